// The environment a program's process starts with: vigild's own, less
// what belongs to vigild (its notify socket, its systemd socket
// activation), plus supervisord's SUPERVISOR_* names and vigil's VIGIL_*,
// then the program's `environment`, which wins.
#pragma once

#include <string>
#include <vector>

#include "config/model.hpp"

namespace vigil::supervisor {

std::vector<std::string> child_environment(const config::Program& p, const std::string& server_url);

// KEY=value in place of vigild's own KEY (appended when there is none),
// unless the program's `environment` sets KEY itself: that always wins.
void set_user_env(std::vector<std::string>& env, const config::Program& p, const std::string& key,
                  const std::string& value);

}  // namespace vigil::supervisor
