// What only the machine can say about a program: that its `user` and
// `group` exist, that its command is there and its user may run it (every
// directory on the way searchable), that its `directory` exists and its user
// may enter it. The loader asks only when LoadOptions::host_checks is set
// (`vigild --check`, reread, update, reload), so the pure loader and its
// tests never depend on the machine they run on.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace vigil::config {

struct HostProblem {
    std::string key;  // the key whose line the problem is reported at
    std::string message;
};

// `env` is vigild's environment (its PATH is the programs' unless they set
// their own).
std::vector<HostProblem> check_on_host(const Program& p, const std::map<std::string, std::string>& env);

}  // namespace vigil::config
