// `vigilctl restart --rolling GROUP` on vigild's side: the executor of a
// rolling restart. Every decision (which instance next, hold it "draining",
// count its requests until 0 or the drain timeout, restart, wait until
// RUNNING with a new pid and healthy or the timeout, release it "up", what a
// failure does) is made by the pure core::ProcessSet
// (core/process_set_rolling.cpp); this turns its roll_step and roll_done
// commands into the log and into one JSON line each on a ProgressFeed:
//   {"step":"start","names":[…]}
//   {"step":"draining"|"drained"|"drain_timeout"|"stopped"|"started"|"healthy"|"up"|"skipped",
//    "name","message","ms"}            ms: since this instance's turn began
//   {"step":"failed","name","message","ms"}
//   {"step":"done","ok","restarted":[…],"untouched":[…],"message","ms"}
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "supervisor/control_api.hpp"
#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {

class RollingRestart : public std::enable_shared_from_this<RollingRestart> {
public:
    RollingRestart(Supervisor& sup, std::string spec, std::shared_ptr<ProgressFeed> feed);

    // The caller checked that no other roll has any of `names`.
    void start(const std::vector<std::string>& names, const core::RollOptions& options);

private:
    void report(const core::Command& c);

    Supervisor& sup_;
    std::string spec_;
    std::shared_ptr<ProgressFeed> feed_;
};

}  // namespace vigil::supervisor
