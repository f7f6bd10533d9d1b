// Holds a control request's reply until every named process has reached its
// goal, cannot reach it any more, or the timeout fires. Used by start, stop
// and restart (which change state and then wait) and by POST
// /v1/programs/{spec}/wait (which only waits).
//
// The goals are decided by core::ProcessSet (process_set_waits.cpp), which
// sees every decision and health change as it happens; this only turns its
// answer into the JSON the control API sends. A wait is registered (and the
// current states looked at) before the request that changes them is made,
// so no change can slip between the two: vigild is single-threaded.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {

class Waiter : public std::enable_shared_from_this<Waiter> {
public:
    using Goal = core::WaitGoal;
    // ok: every process reached its goal; timed_out: some did not within the
    // timeout. `results`: one {"name","ok","state","health","message"} per
    // process, in the order they were added.
    using Done = std::function<void(bool ok, bool timed_out, nlohmann::json results)>;

    Waiter(boost::asio::io_context& io, Supervisor& sup, Done done);

    void add(const std::string& name, Goal goal);
    // Registers the wait; answers at once when all are settled (a zero
    // timeout answers with the states as they are).
    void start(std::chrono::milliseconds timeout);

    static const char* goal_name(Goal g) { return core::wait_goal_name(g); }

private:
    Supervisor& sup_;
    Done done_;
    std::vector<std::pair<std::string, Goal>> goals_;
};

}  // namespace vigil::supervisor
