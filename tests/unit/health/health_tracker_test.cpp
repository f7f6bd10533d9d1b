#include <catch2/catch.hpp>

#include <set>
#include <vector>

#include "supervisor/core/health_tracker.hpp"

using namespace std::chrono_literals;
using namespace vigil::core;

namespace {

HealthPolicy policy(int retries, int rise, Duration start_period = 0ms) {
    HealthPolicy p;
    p.interval = 10000ms;
    p.timeout = 2000ms;
    p.retries = retries;
    p.rise = rise;
    p.start_period = start_period;
    return p;
}

// A tracker on a manual clock: each result lands one interval after the last.
struct Driver {
    TimePoint now{std::chrono::seconds(1000)};
    HealthTracker t;

    explicit Driver(HealthPolicy p) : t(p) { t.reset(now); }
    HealthChange ok() { return step(true); }
    HealthChange fail() { return step(false); }
    HealthChange step(bool result) {
        now += t.policy().interval;
        return t.record(result, now);
    }
    HealthStatus status() const { return t.status(); }
};

}  // namespace

TEST_CASE("health tracker: starts in starting", "[health]") {
    Driver d(policy(3, 1));
    CHECK(d.status() == HealthStatus::starting);
    CHECK(health_status_name(d.status()) == "starting");
    CHECK(health_status_name(HealthStatus::healthy) == "healthy");
    CHECK(health_status_name(HealthStatus::unhealthy) == "unhealthy");
}

TEST_CASE("health tracker: the first success decides at once, rise is not awaited", "[health]") {
    Driver d(policy(3, 5));
    CHECK(d.ok() == HealthChange::changed);
    CHECK(d.status() == HealthStatus::healthy);
}

TEST_CASE("health tracker: starting becomes unhealthy after exactly `retries` failures", "[health]") {
    for (int retries : {1, 2, 3, 7}) {
        Driver d(policy(retries, 1));
        for (int i = 1; i < retries; ++i) {
            CHECK(d.fail() == HealthChange::unchanged);
            CHECK(d.status() == HealthStatus::starting);
            CHECK(d.t.failures() == i);
        }
        CHECK(d.fail() == HealthChange::changed);
        CHECK(d.status() == HealthStatus::unhealthy);
    }
}

TEST_CASE("health tracker: healthy falls after exactly `retries` failures in a row", "[health]") {
    Driver d(policy(3, 1));
    d.ok();
    CHECK(d.fail() == HealthChange::unchanged);
    CHECK(d.fail() == HealthChange::unchanged);
    CHECK(d.status() == HealthStatus::healthy);
    CHECK(d.fail() == HealthChange::changed);
    CHECK(d.status() == HealthStatus::unhealthy);
}

TEST_CASE("health tracker: a success resets the failure count", "[health]") {
    Driver d(policy(3, 1));
    d.ok();
    d.fail();
    d.fail();
    CHECK(d.ok() == HealthChange::unchanged);
    CHECK(d.t.failures() == 0);
    d.fail();
    d.fail();
    CHECK(d.status() == HealthStatus::healthy);
    CHECK(d.fail() == HealthChange::changed);
}

TEST_CASE("health tracker: unhealthy rises after exactly `rise` successes in a row", "[health]") {
    for (int rise : {1, 2, 4}) {
        Driver d(policy(1, rise));
        d.fail();
        REQUIRE(d.status() == HealthStatus::unhealthy);
        for (int i = 1; i < rise; ++i) {
            CHECK(d.ok() == HealthChange::unchanged);
            CHECK(d.status() == HealthStatus::unhealthy);
            CHECK(d.t.successes() == i);
        }
        CHECK(d.ok() == HealthChange::changed);
        CHECK(d.status() == HealthStatus::healthy);
    }
}

TEST_CASE("health tracker: a failure resets the success count while rising", "[health]") {
    Driver d(policy(1, 3));
    d.fail();
    d.ok();
    d.ok();
    CHECK(d.fail() == HealthChange::unchanged);
    CHECK(d.t.successes() == 0);
    d.ok();
    d.ok();
    CHECK(d.status() == HealthStatus::unhealthy);
    CHECK(d.ok() == HealthChange::changed);
}

TEST_CASE("health tracker: further failures while unhealthy change nothing", "[health]") {
    Driver d(policy(2, 1));
    d.fail();
    d.fail();
    REQUIRE(d.status() == HealthStatus::unhealthy);
    for (int i = 0; i < 10; ++i) CHECK(d.fail() == HealthChange::unchanged);
    CHECK(d.status() == HealthStatus::unhealthy);
}

TEST_CASE("health tracker: thresholds count from the last change", "[health]") {
    Driver d(policy(2, 2));
    d.ok();
    d.fail();
    d.fail();
    REQUIRE(d.status() == HealthStatus::unhealthy);
    d.ok();
    d.ok();
    REQUIRE(d.status() == HealthStatus::healthy);
    CHECK(d.fail() == HealthChange::unchanged);
    CHECK(d.fail() == HealthChange::changed);
}

TEST_CASE("health tracker: failures inside the start period do not count", "[health]") {
    Driver d(policy(2, 1, 60000ms));  // six intervals of start period
    for (int i = 0; i < 5; ++i) {
        CHECK(d.fail() == HealthChange::unchanged);
        CHECK(d.t.failures() == 0);
    }
    CHECK(d.status() == HealthStatus::starting);
    d.fail();  // at exactly start + start_period: the period is over, this one counts
    CHECK(d.t.failures() == 1);
    CHECK(d.fail() == HealthChange::changed);
    CHECK(d.status() == HealthStatus::unhealthy);
}

TEST_CASE("health tracker: the start period boundary is exclusive", "[health]") {
    HealthTracker t(policy(1, 1, 5000ms));
    const TimePoint t0{std::chrono::seconds(50)};
    t.reset(t0);
    CHECK(t.in_start_period(t0));
    CHECK(t.in_start_period(t0 + 4999ms));
    CHECK_FALSE(t.in_start_period(t0 + 5000ms));
    CHECK(t.record(false, t0 + 4999ms) == HealthChange::unchanged);
    CHECK(t.status() == HealthStatus::starting);
    CHECK(t.record(false, t0 + 5000ms) == HealthChange::changed);
    CHECK(t.status() == HealthStatus::unhealthy);
}

TEST_CASE("health tracker: the first success ends the start period early", "[health]") {
    Driver d(policy(1, 1, 600000ms));
    CHECK(d.ok() == HealthChange::changed);
    CHECK_FALSE(d.t.in_start_period(d.now));
    CHECK(d.fail() == HealthChange::changed);  // counted although within start_period of the start
    CHECK(d.status() == HealthStatus::unhealthy);
}

TEST_CASE("health tracker: a success inside the start period makes it healthy at once", "[health]") {
    Driver d(policy(3, 3, 60000ms));
    d.fail();
    d.fail();
    CHECK(d.ok() == HealthChange::changed);
    CHECK(d.status() == HealthStatus::healthy);
}

TEST_CASE("health tracker: zero start period counts the very first failure", "[health]") {
    Driver d(policy(1, 1, 0ms));
    CHECK_FALSE(d.t.in_start_period(d.now));
    CHECK(d.fail() == HealthChange::changed);
}

TEST_CASE("health tracker: reset starts over from starting with a new start period", "[health]") {
    Driver d(policy(1, 3, 20000ms));
    d.ok();
    d.now += 100000ms;
    d.fail();
    REQUIRE(d.status() == HealthStatus::unhealthy);
    d.t.reset(d.now);
    CHECK(d.status() == HealthStatus::starting);
    CHECK(d.t.failures() == 0);
    CHECK(d.t.successes() == 0);
    CHECK(d.t.in_start_period(d.now));
    CHECK(d.fail() == HealthChange::unchanged);  // inside the new start period
    CHECK(d.ok() == HealthChange::changed);      // first success after reset: rise not awaited
    CHECK(d.status() == HealthStatus::healthy);
}

TEST_CASE("health tracker: retries and rise below 1 are treated as 1", "[health]") {
    Driver d(policy(0, -3));
    d.ok();
    CHECK(d.fail() == HealthChange::changed);
    CHECK(d.ok() == HealthChange::changed);
}

TEST_CASE("health tracker: startup gate holds checks off until its first success", "[health]") {
    HealthPolicy p = policy(2, 1);
    p.startup_gate = true;
    HealthTracker t(p);
    TimePoint now{std::chrono::seconds(10)};
    t.reset(now);
    CHECK_FALSE(t.gate_open());
    for (int i = 0; i < 20; ++i) {
        now += 1000ms;
        CHECK_FALSE(t.record_startup(false, now));
        CHECK(t.status() == HealthStatus::starting);
    }
    CHECK(t.record_startup(true, now));
    CHECK(t.gate_open());
    CHECK(t.status() == HealthStatus::starting);  // the health checks decide, not the startup check
    CHECK_FALSE(t.record_startup(true, now));     // opens once
    CHECK(t.record(true, now) == HealthChange::changed);
    CHECK(t.status() == HealthStatus::healthy);
    t.reset(now);
    CHECK_FALSE(t.gate_open());  // closed again after a respawn
}

TEST_CASE("health tracker: without a startup check the gate is always open", "[health]") {
    HealthTracker t(policy(1, 1));
    t.reset(TimePoint{});
    CHECK(t.gate_open());
    CHECK_FALSE(t.record_startup(true, TimePoint{}));
}

TEST_CASE("health tracker: policy from config", "[health]") {
    vigil::config::HealthCheck hc;
    hc.kind = vigil::config::HealthKind::tcp;
    hc.interval = 5000ms;
    hc.timeout = 1000ms;
    hc.retries = 4;
    hc.rise = 2;
    hc.start_period = 30000ms;
    hc.start_interval = 500ms;
    HealthPolicy p = HealthPolicy::from(hc);
    CHECK(p.interval == 5000ms);
    CHECK(p.timeout == 1000ms);
    CHECK(p.retries == 4);
    CHECK(p.rise == 2);
    CHECK(p.start_period == 30000ms);
    CHECK(p.start_interval == 500ms);
    CHECK_FALSE(p.startup_gate);
    vigil::config::HealthCheck startup;
    startup.kind = vigil::config::HealthKind::exec;
    startup.target = "true";
    hc.startup.push_back(startup);
    CHECK(HealthPolicy::from(hc).startup_gate);
}

TEST_CASE("health tracker: jitter stays within ±10% of the interval", "[health]") {
    Rng rng(99);
    for (Duration base : {Duration(1000), Duration(30000), Duration(250)}) {
        for (int i = 0; i < 1000; ++i) {
            const Duration d = next_interval(base, rng);
            CHECK(d.count() >= static_cast<long>(base.count() * 0.9) - 1);
            CHECK(d.count() <= static_cast<long>(base.count() * 1.1) + 1);
        }
    }
}

TEST_CASE("health tracker: jitter spreads checks out", "[health]") {
    Rng rng(5);
    std::set<long> seen;
    long lo = 1000000, hi = 0;
    for (int i = 0; i < 1000; ++i) {
        const long d = next_interval(1000ms, rng).count();
        seen.insert(d);
        lo = std::min(lo, d);
        hi = std::max(hi, d);
    }
    CHECK(seen.size() > 150);  // nearly every millisecond of the 200 ms window
    CHECK(lo < 920);
    CHECK(hi > 1080);
}

TEST_CASE("health tracker: jitter never yields a zero delay", "[health]") {
    Rng rng(1);
    for (int i = 0; i < 100; ++i) {
        CHECK(next_interval(0ms, rng) >= 1ms);
        CHECK(next_interval(1ms, rng) >= 1ms);
    }
}

TEST_CASE("health tracker: checks run at start_interval inside the start period, then at interval", "[health]") {
    HealthPolicy p = policy(3, 1, 10000ms);
    p.interval = 30000ms;
    p.start_interval = 1000ms;
    HealthTracker t(p);
    Rng rng(3);
    TimePoint now{std::chrono::seconds(100)};
    t.reset(now);
    auto near = [](Duration d, Duration base) { return d >= base * 9 / 10 && d <= base * 11 / 10; };
    CHECK(near(t.next_delay(now, rng), 1000ms));
    CHECK(near(t.next_delay(now + 9999ms, rng), 1000ms));
    CHECK(near(t.next_delay(now + 10000ms, rng), 30000ms));
    t.record(true, now + 2000ms);  // ends the start period
    CHECK(near(t.next_delay(now + 2000ms, rng), 30000ms));
}

TEST_CASE("health tracker: start_interval never exceeds interval", "[health]") {
    HealthPolicy p = policy(3, 1, 10000ms);
    p.interval = 200ms;
    p.start_interval = 5000ms;
    HealthTracker t(p);
    Rng rng(3);
    t.reset(TimePoint{});
    CHECK(t.next_delay(TimePoint{}, rng) <= 220ms);
}

TEST_CASE("health tracker: a closed startup gate uses start_interval even without a start period", "[health]") {
    HealthPolicy p = policy(3, 1);
    p.interval = 30000ms;
    p.start_interval = 1000ms;
    p.startup_gate = true;
    HealthTracker t(p);
    Rng rng(3);
    t.reset(TimePoint{});
    CHECK(t.next_delay(TimePoint{}, rng) <= 1100ms);
    t.record_startup(true, TimePoint{});
    CHECK(t.next_delay(TimePoint{}, rng) >= 27000ms);
}

TEST_CASE("health tracker: a flapping check with rise 2 and retries 2", "[health]") {
    Driver d(policy(2, 2));
    std::vector<HealthStatus> seen;
    // ok: healthy at once; then F F -> unhealthy; S F S S -> healthy
    for (bool r : {true, false, false, true, false, true, true}) {
        d.step(r);
        seen.push_back(d.status());
    }
    using S = HealthStatus;
    CHECK(seen == std::vector<S>{S::healthy, S::healthy, S::unhealthy, S::unhealthy, S::unhealthy, S::unhealthy,
                                 S::healthy});
}

TEST_CASE("health tracker: coalesce moves a check to the nearest point of a shared grid", "[health]") {
    const TimePoint base{std::chrono::seconds(1000)};
    // 1 s interval: a 25 ms grid, moves of at most 12.5 ms either way.
    for (int ms = 0; ms < 200; ++ms) {
        const TimePoint when = base + Duration(ms) + std::chrono::microseconds(300);
        const TimePoint at = coalesce(when, 1000ms);
        CHECK(at.time_since_epoch() % 25ms == Clock::duration(0));
        CHECK(std::chrono::abs(at - when) <= 12500us);
    }
    // Two checks due 3 ms apart start together.
    CHECK(coalesce(base + 101ms, 1000ms) == coalesce(base + 104ms, 1000ms));
    // Long intervals keep a 25 ms grain, short ones a proportionally finer one, tiny ones none.
    CHECK(coalesce(base + 13ms, 30000ms) == base + 25ms);
    CHECK(coalesce(base + 7ms, 400ms) == base + 10ms);
    const TimePoint odd = base + std::chrono::microseconds(12345);
    CHECK(coalesce(odd, 20ms) == odd);
}

TEST_CASE("health tracker: base_interval is next_delay without jitter", "[health]") {
    HealthPolicy p = policy(3, 1, 10000ms);
    p.interval = 5000ms;
    p.start_interval = 500ms;
    HealthTracker t(p);
    const TimePoint t0{std::chrono::seconds(7)};
    t.reset(t0);
    CHECK(t.base_interval(t0) == 500ms);
    CHECK(t.base_interval(t0 + 10000ms) == 5000ms);
}
