// `vigilctl restart --rolling GROUP`: asks vigild for a rolling restart
// (POST /v1/programs/GROUP/rolling-restart) and prints its progress, one
// line per step, as vigild streams it.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "supervisor/ctl/client.hpp"

namespace vigil::ctl {

// `timeout` and `drain_timeout` are the option values as typed (seconds).
int rolling_restart(const Client& client, const std::vector<std::string>& names,
                    const std::optional<std::string>& timeout, const std::optional<std::string>& drain_timeout,
                    bool as_json, std::ostream& out, std::ostream& err);

}  // namespace vigil::ctl
