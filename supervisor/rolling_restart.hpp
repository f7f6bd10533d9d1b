// `vigilctl restart --rolling GROUP` on vigild's side: the instances of a
// group (or a numprocs program) are restarted one at a time. For each: held
// at "draining" in every vigil-proxy pool it serves in (ProxyLink::hold, so
// vigild's own health decisions cannot put it back "up" meanwhile), its
// active requests at the proxy polled down to 0 (bounded by the drain
// timeout, then it is stopped anyway), restarted, waited on until RUNNING
// with a new pid and healthy (bounded by the timeout), then released back
// "up". An instance that does not become healthy stops the roll: the
// remaining ones are left untouched and the roll reports failure. Instances
// outside every pool are restarted and waited on the same way, with no drain.
//
// Runs on vigild's event loop like everything else; each step is pushed to a
// ProgressFeed as one JSON line:
//   {"step":"start","names":[…]}
//   {"step":"draining"|"drained"|"drain_timeout"|"stopped"|"started"|"healthy"|"up"|"skipped",
//    "name","message","ms"}            ms: since this instance's roll began
//   {"step":"failed","name","message"}
//   {"step":"done","ok","restarted":[…],"untouched":[…],"message","ms"}
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "supervisor/control_api.hpp"
#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {

class ProxyLink;

class RollingRestart : public std::enable_shared_from_this<RollingRestart> {
public:
    struct Options {
        std::chrono::milliseconds timeout{60000};  // restart → RUNNING and healthy, per instance
        std::optional<std::chrono::milliseconds> drain_timeout;  // default: the program's stopwaitsecs
    };

    // `busy` holds the names of every instance some roll is working on; the
    // caller has checked and added `names`, this removes them when it ends.
    RollingRestart(boost::asio::io_context& io, Supervisor& sup, ProxyLink* proxy, std::string spec,
                   std::vector<std::string> names, Options options, std::shared_ptr<ProgressFeed> feed,
                   std::shared_ptr<std::set<std::string>> busy);

    void start();

    // How often the proxy is asked for an instance's active requests while
    // it drains.
    static constexpr std::chrono::milliseconds kDrainPoll{20};

private:
    enum class Phase { idle, draining, restarting, healthy_wait, returning, done };

    void next();
    void drain();
    void poll_active();
    void restart();
    void on_state(const ProcessRunner& r, const core::Decision& d);
    void on_health(const ProcessRunner& r, core::HealthStatus to);
    void became_healthy();
    void back_in();
    void fail(const std::string& message);
    void finish(bool ok, const std::string& message);
    void emit(const std::string& step, const std::string& message);
    long ms_since(std::chrono::steady_clock::time_point t) const;

    boost::asio::io_context& io_;
    Supervisor& sup_;
    ProxyLink* proxy_;
    std::string spec_;
    std::vector<std::string> names_;
    Options options_;
    std::shared_ptr<ProgressFeed> feed_;
    std::shared_ptr<std::set<std::string>> busy_;

    std::size_t index_ = 0;
    std::string current_;
    std::vector<std::string> pools_;  // current_'s pools, when the proxy runs
    Phase phase_ = Phase::idle;
    pid_t old_pid_ = 0;
    unsigned gen_ = 0;  // bumped per phase: stale timer and proxy callbacks are ignored
    std::chrono::steady_clock::time_point began_, instance_began_, drain_deadline_;
    std::vector<std::string> restarted_;
    boost::asio::steady_timer deadline_, poll_;
    std::uint64_t state_sub_ = 0, health_sub_ = 0;
};

}  // namespace vigil::supervisor
