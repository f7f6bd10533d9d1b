// vigilctl with no verb: an interactive shell like supervisorctl's, with
// line editing, history (~/.vigilctl_history) and completion of verbs and
// process names (libedit: BSD-licensed, so the whole stays permissive).
#pragma once

#include "supervisor/ctl/client.hpp"

namespace vigil::ctl {

int run_shell(const Client& client);

}  // namespace vigil::ctl
