// The health of one process as a pure state machine: check results in, a
// status out. No sockets, no timers, no exceptions; the I/O side
// (supervisor/health/health_monitor) runs the probes and feeds the results.
//
// Statuses are Docker's:
//
//   starting   spawned, no success yet (initial state; after every reset)
//   healthy    passing
//   unhealthy  failing
//
// Transitions, with Docker's retries/start period, HAProxy's rise and
// Envoy's "the first check decides at once":
//
//   starting  --success----------------------------------------> healthy
//             (the first success decides at once: `rise` is not awaited,
//              and it also ends the start period)
//   starting  --`retries` failures in a row, counted only once the start
//               period is over------------------------------------> unhealthy
//   healthy   --`retries` failures in a row-----------------------> unhealthy
//   unhealthy --`rise` successes in a row-------------------------> healthy
//
// A success resets the failure count and a failure the success count, so only
// consecutive results reach a threshold. Failures inside the start period
// (`start_period` after reset, until the first success) are not counted at
// all, so a slow starter is not condemned while it boots.
//
// An optional startup gate (Kubernetes' startup probe) holds the health
// checks off: while it is closed only the startup check runs, its failures
// never count, and the status stays `starting`. Its first success opens the
// gate for good (until the next reset).
#pragma once

#include <string_view>

#include "config/model.hpp"
#include "supervisor/core/clock.hpp"

namespace vigil::core {

enum class HealthStatus { starting, healthy, unhealthy };
std::string_view health_status_name(HealthStatus s) noexcept;  // "healthy"

// What a result did to the status. Envoy's ChangePending is `unchanged` with
// a non-zero failures()/successes() count.
enum class HealthChange { unchanged, changed };

struct HealthPolicy {
    Duration interval{30000};
    Duration timeout{10000};
    Duration start_period{0};
    Duration start_interval{1000};  // cadence inside the start period and while the gate is closed
    int retries = 3;
    int rise = 1;
    bool startup_gate = false;

    static HealthPolicy from(const config::HealthCheck& hc) noexcept;
};

// Jitter applied to every check interval, so hundreds of checks started
// together spread out instead of marching in step.
inline constexpr double kHealthJitter = 0.10;

// `interval` ±10 %, never below 1 ms.
Duration next_interval(Duration interval, Rng& rng) noexcept;

// Where a check due at `when` should actually start: moved to the nearest
// point of a grid shared by every check whose base interval is `interval`
// (2.5 % of it, at most 25 ms; no grid below 40 ms). Checks due within the
// same few milliseconds then start together and the event loop wakes once
// for the batch instead of once per check, as timer slack does for the
// kernel. It moves a check by at most half a grain, less than the jitter.
TimePoint coalesce(TimePoint when, Duration interval) noexcept;

class HealthTracker {
public:
    explicit HealthTracker(HealthPolicy policy) noexcept;

    // The process was (re)spawned at `now`: status `starting`, counts
    // cleared, start period begins, startup gate closed (if there is one).
    void reset(TimePoint now) noexcept;

    // A health check result at `now`.
    HealthChange record(bool ok, TimePoint now) noexcept;

    // A startup check result; true when this result opened the gate.
    bool record_startup(bool ok, TimePoint now) noexcept;

    // The delay until the next check, jittered: `start_interval` (capped at
    // `interval`) while the gate is closed or the start period runs,
    // `interval` otherwise.
    Duration next_delay(TimePoint now, Rng& rng) const noexcept;
    // The same without jitter.
    Duration base_interval(TimePoint now) const noexcept;

    HealthStatus status() const noexcept { return status_; }
    bool gate_open() const noexcept { return gate_open_; }
    // True while failures do not count: inside `start_period` after reset and
    // before the first success.
    bool in_start_period(TimePoint now) const noexcept;
    int failures() const noexcept { return failures_; }    // counted, in a row
    int successes() const noexcept { return successes_; }  // in a row
    const HealthPolicy& policy() const noexcept { return policy_; }

    // The whole state, for a re-executed vigild to go on with (status,
    // counts, start period, gate) instead of starting over.
    struct Snapshot {
        HealthStatus status = HealthStatus::starting;
        TimePoint started{};
        bool start_period_over = false;
        bool gate_open = true;
        int failures = 0;
        int successes = 0;
    };
    Snapshot snapshot() const noexcept {
        return {status_, started_, start_period_over_, gate_open_, failures_, successes_};
    }
    void restore(const Snapshot& s) noexcept {
        status_ = s.status;
        started_ = s.started;
        start_period_over_ = s.start_period_over;
        gate_open_ = s.gate_open;
        failures_ = s.failures;
        successes_ = s.successes;
    }

private:
    HealthPolicy policy_;
    HealthStatus status_ = HealthStatus::starting;
    TimePoint started_{};
    bool start_period_over_ = false;  // ended early by a success
    bool gate_open_ = true;
    int failures_ = 0;
    int successes_ = 0;
};

}  // namespace vigil::core
