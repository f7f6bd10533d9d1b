// The health checks of one supervised process: runs its probe every
// (jittered) interval on vigild's io_context, feeds the results to the pure
// HealthTracker, keeps the last results for `vigilctl health`, and reports
// status changes. The supervisor calls start() when the process is spawned
// and stop() when it exits.
//
// Lifetime: every pending handler holds only a weak reference, and stop()
// (or dropping the last shared_ptr) cancels the timer and the probe, so no
// callback arrives after stop() and a destroyed monitor is never touched.
// Callbacks run on the io_context and may call stop() or start().
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "supervisor/core/health_tracker.hpp"
#include "supervisor/health/probe.hpp"

namespace vigil::health {

// One finished check, as `vigilctl health` lists it.
struct HealthRecord {
    std::chrono::system_clock::time_point at;  // when it finished
    bool ok = false;
    bool startup = false;  // a startup_check result (the gate was still closed)
    std::chrono::microseconds latency{0};
    std::string detail;
};

class HealthMonitor : public std::enable_shared_from_this<HealthMonitor> {
public:
    using Status = core::HealthStatus;
    using OnChange = std::function<void(Status old, Status now, const ProbeResult& result)>;
    using OnResult = std::function<void(const HealthRecord& record)>;

    struct Options {
        std::size_t history = 10;  // results kept for history()
        std::uint64_t seed = 0;    // jitter seed; 0: from std::random_device
        // The generator to draw jitter from instead: vigild's one (Supervisor),
        // so a run replays from its seed. Must outlive the monitor.
        core::Rng* rng = nullptr;
        ExecContext exec;          // how exec: checks run
    };

    // From the program's config: its healthcheck, and its startup_check if
    // any. Returns nullptr when the program has no healthcheck.
    static std::shared_ptr<HealthMonitor> create(boost::asio::io_context& io, std::string name,
                                                 const config::HealthCheck& hc, OnChange on_change,
                                                 Options options);
    static std::shared_ptr<HealthMonitor> create(boost::asio::io_context& io, std::string name,
                                                 const config::HealthCheck& hc, OnChange on_change);
    // With probes made elsewhere (tests, benchmarks). `startup` may be null.
    static std::shared_ptr<HealthMonitor> create(boost::asio::io_context& io, std::string name,
                                                 core::HealthPolicy policy, std::shared_ptr<Probe> probe,
                                                 std::shared_ptr<Probe> startup, OnChange on_change,
                                                 Options options);

    ~HealthMonitor();
    HealthMonitor(const HealthMonitor&) = delete;
    HealthMonitor& operator=(const HealthMonitor&) = delete;

    // Called with every result, before on_change (metrics, events).
    void set_on_result(OnResult on_result) { on_result_ = std::move(on_result); }

    // The process was just spawned: status `starting`, start period and
    // startup gate from scratch, first check after the first delay. Calling
    // it again restarts all of that. Does not call on_change.
    void start();
    // The process is gone: no more checks, the pending one is abandoned.
    // The status and history stay readable. Does not call on_change.
    void stop();

    // vigild re-executed itself while the process ran: go on from the old
    // image's status, counts and history (no reset, no on_change), with the
    // next check one interval away.
    void resume(const core::HealthTracker::Snapshot& state, std::uint64_t passed, std::uint64_t failed,
                std::deque<HealthRecord> history);

    bool running() const noexcept { return running_; }
    Status status() const noexcept { return tracker_.status(); }
    const core::HealthTracker& tracker() const noexcept { return tracker_; }
    const std::deque<HealthRecord>& history() const noexcept { return history_; }  // oldest first
    std::uint64_t checks_passed() const noexcept { return passed_; }
    std::uint64_t checks_failed() const noexcept { return failed_; }
    const std::string& name() const noexcept { return name_; }

private:
    HealthMonitor(boost::asio::io_context& io, std::string name, core::HealthPolicy policy,
                  std::shared_ptr<Probe> probe, std::shared_ptr<Probe> startup, OnChange on_change,
                  Options options);

    void schedule();
    void check();
    void on_result(std::uint64_t gen, bool startup, ProbeResult result);

    std::string name_;
    core::HealthTracker tracker_;
    core::Rng own_rng_;  // used when Options::rng is null
    core::Rng& rng_;
    std::shared_ptr<Probe> probe_, startup_;
    boost::asio::steady_timer timer_;
    OnChange on_change_;
    OnResult on_result_;
    std::size_t history_size_;
    std::deque<HealthRecord> history_;
    std::uint64_t gen_ = 0;  // bumped by start()/stop(): older completions are ignored
    bool running_ = false;
    std::uint64_t passed_ = 0, failed_ = 0;
};

}  // namespace vigil::health
