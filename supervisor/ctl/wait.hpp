// vigilctl's side of POST /v1/programs/{spec}/wait: one request that vigild
// answers when every process of spec is RUNNING / healthy / stopped, cannot
// get there, or the timeout passed. Used by `vigilctl wait` and by restore.
#pragma once

#include <string>
#include <vector>

#include "supervisor/control_protocol.hpp"
#include "supervisor/ctl/client.hpp"

namespace vigil::ctl {

struct WaitResult {
    int status = 0;  // HTTP status; 0 when vigild could not be reached
    std::string error;  // unreachable, unknown spec, bad request, timeout
    struct Process {
        std::string name, state, health, message;
        bool ok = false;
    };
    std::vector<Process> processes;
    bool ok() const { return status == 200; }
};

// `timeout_s` > 0.
WaitResult wait_for(const Client& client, const std::string& spec, control::Goal goal, long timeout_s);

}  // namespace vigil::ctl
