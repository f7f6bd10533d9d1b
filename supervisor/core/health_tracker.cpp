#include "supervisor/core/health_tracker.hpp"

#include <algorithm>
#include <cmath>

namespace vigil::core {

std::string_view health_status_name(HealthStatus s) noexcept {
    switch (s) {
        case HealthStatus::starting: return "starting";
        case HealthStatus::healthy: return "healthy";
        case HealthStatus::unhealthy: return "unhealthy";
    }
    return "unknown";
}

HealthPolicy HealthPolicy::from(const config::HealthCheck& hc) noexcept {
    HealthPolicy p;
    p.interval = hc.interval;
    p.timeout = hc.timeout;
    p.start_period = hc.start_period;
    p.start_interval = hc.start_interval;
    // The loader validates these; clamping keeps a hand-built config from
    // turning a threshold of 0 into "never".
    p.retries = std::max(1, hc.retries);
    p.rise = std::max(1, hc.rise);
    p.startup_gate = !hc.startup.empty() && hc.startup.front().kind != config::HealthKind::none;
    return p;
}

Duration next_interval(Duration interval, Rng& rng) noexcept {
    const double base = static_cast<double>(interval.count());
    const double jittered = base * (1.0 + rng.uniform(-kHealthJitter, kHealthJitter));
    return Duration(std::max<Duration::rep>(1, static_cast<Duration::rep>(std::llround(jittered))));
}

TimePoint coalesce(TimePoint when, Duration interval) noexcept {
    const Duration grain = std::min<Duration>(Duration(25), interval / 40);
    if (grain <= Duration(0)) return when;
    const auto g = std::chrono::duration_cast<Clock::duration>(grain);
    // To the nearest grid point, so the mean interval stays what was asked.
    const auto t = when.time_since_epoch() + g / 2;
    return TimePoint(t - t % g);
}

HealthTracker::HealthTracker(HealthPolicy policy) noexcept : policy_(policy), gate_open_(!policy.startup_gate) {
    policy_.retries = std::max(1, policy_.retries);
    policy_.rise = std::max(1, policy_.rise);
}

void HealthTracker::reset(TimePoint now) noexcept {
    status_ = HealthStatus::starting;
    started_ = now;
    start_period_over_ = false;
    gate_open_ = !policy_.startup_gate;
    failures_ = 0;
    successes_ = 0;
}

bool HealthTracker::in_start_period(TimePoint now) const noexcept {
    return !start_period_over_ && now - started_ < policy_.start_period;
}

HealthChange HealthTracker::record(bool ok, TimePoint now) noexcept {
    const HealthStatus before = status_;
    if (ok) {
        failures_ = 0;
        ++successes_;
        start_period_over_ = true;
        switch (status_) {
            case HealthStatus::starting: status_ = HealthStatus::healthy; break;  // first success decides
            case HealthStatus::healthy: break;
            case HealthStatus::unhealthy:
                if (successes_ >= policy_.rise) status_ = HealthStatus::healthy;
                break;
        }
    } else {
        successes_ = 0;
        if (in_start_period(now)) return HealthChange::unchanged;  // not counted
        ++failures_;
        switch (status_) {
            case HealthStatus::starting:
            case HealthStatus::healthy:
                if (failures_ >= policy_.retries) status_ = HealthStatus::unhealthy;
                break;
            case HealthStatus::unhealthy: break;
        }
    }
    // Counters restart at every transition so the next threshold is counted
    // from the change, not from before it.
    if (status_ != before) {
        failures_ = 0;
        successes_ = 0;
        return HealthChange::changed;
    }
    return HealthChange::unchanged;
}

bool HealthTracker::record_startup(bool ok, TimePoint) noexcept {
    if (gate_open_ || !ok) return false;
    gate_open_ = true;
    return true;
}

Duration HealthTracker::base_interval(TimePoint now) const noexcept {
    const bool early = !gate_open_ || (status_ == HealthStatus::starting && in_start_period(now));
    return early ? std::min(policy_.start_interval, policy_.interval) : policy_.interval;
}

Duration HealthTracker::next_delay(TimePoint now, Rng& rng) const noexcept {
    return next_interval(base_interval(now), rng);
}

}  // namespace vigil::core
