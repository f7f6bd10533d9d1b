// Holds a control request's reply until every named process has reached its
// goal, cannot reach it any more, or the timeout fires. Used by start, stop
// and restart (which change state and then wait) and by POST
// /v1/programs/{spec}/wait (which only waits).
//
// It subscribes to state and health changes BEFORE it looks at the current
// states, so a change between the look and the subscription cannot be
// missed: vigild is single-threaded and nothing changes between the two
// steps of start().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {

class Waiter : public std::enable_shared_from_this<Waiter> {
public:
    enum class Goal {
        up,         // start: RUNNING; a failed start (BACKOFF from STARTING, FATAL) ends the wait
        down,       // stop: STOPPED, EXITED or FATAL
        restarted,  // restart: seen going down, then as `up`
        running,    // wait: RUNNING; FATAL, EXITED or stopped by hand end the wait (nothing brings it up)
        healthy,    // wait: RUNNING and its healthcheck passed (RUNNING alone without one)
        stopped,    // wait: STOPPED, EXITED or FATAL
    };
    // ok: every process reached its goal; timed_out: some did not within the
    // timeout. `results`: one {"name","ok","state","health","message"} per
    // process, in the order they were added.
    using Done = std::function<void(bool ok, bool timed_out, nlohmann::json results)>;

    Waiter(boost::asio::io_context& io, Supervisor& sup, Done done);

    void add(const std::string& name, Goal goal);
    // Subscribes, then checks the current states; answers at once when all
    // are settled (a zero timeout answers with the states as they are).
    void start(std::chrono::milliseconds timeout);

    static const char* goal_name(Goal g);

private:
    bool check(const ProcessRunner& r, Goal goal, const core::Decision* d);
    void on_change(const ProcessRunner& r, const core::Decision* d);
    void on_timeout();
    bool result(const ProcessRunner* r, const std::string& name, bool ok, const std::string& message);
    void finish();

    boost::asio::steady_timer timer_;
    Supervisor& sup_;
    Done done_;
    std::map<std::string, Goal> pending_;
    std::vector<std::string> order_;
    std::map<std::string, nlohmann::json> results_;
    std::chrono::milliseconds timeout_{0};
    std::uint64_t state_sub_ = 0, health_sub_ = 0;
    bool ok_ = true;
    bool timed_out_ = false;
    bool done_called_ = false;
};

}  // namespace vigil::supervisor
