// `vigilctl reexec`: vigild re-executes its own binary in place (after a
// package upgrade, say), keeping every program running (POST /v1/reexec,
// supervisor/reexec.hpp). Waits until the new image answers, and says so;
// a refusal (409) is printed with vigild's reason.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "supervisor/ctl/client.hpp"

namespace vigil::ctl {

// `timeout`: seconds to wait for the new image, as typed (default 30).
int reexec(const Client& client, const std::optional<std::string>& timeout, bool as_json, std::ostream& out,
           std::ostream& err);

}  // namespace vigil::ctl
