// A process as the control API shows it (GET /v1/programs, /v1/programs/NAME):
// its state, a supervisorctl-style description, and what vigild knows of
// its last run, health and intent.
#pragma once

#include <nlohmann/json.hpp>

#include "supervisor/process_runner.hpp"
#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {

// `with_output`: false leaves out the line of program output that explains
// an exit (exit_reason), for readers without log_group (supervisor/access.hpp).
nlohmann::json process_json(const ProcessRunner& r, const Supervisor& sup, bool with_output = true);

}  // namespace vigil::supervisor
