// vigilctl's verbs: each turns its arguments into control API calls and the
// replies into supervisorctl-style lines (or JSON with --json), returning
// the documented exit code.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "supervisor/ctl/client.hpp"

namespace vigil::ctl {

enum ExitCode { kOk = 0, kFailed = 1, kUsage = 2, kNotRunning = 3, kUnreachable = 4 };

int run_command(const Client& client, const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);
const std::vector<std::string>& verbs();
std::string usage();

}  // namespace vigil::ctl
