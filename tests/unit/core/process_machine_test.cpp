#include <catch2/catch.hpp>

#include "supervisor/core/process_machine.hpp"

using namespace std::chrono_literals;
using namespace vigil::core;
using vigil::config::AutoRestart;

namespace {

struct Driver {
    TimePoint now{};
    Rng rng{1};
    ProcessMachine m;

    explicit Driver(Policy p = Policy{}) : m(std::move(p)) {}

    Decision send(const Event& e) { return m.handle(e, now, rng); }
    void advance(Duration d) { now += d; }

    void to_starting() {
        send(Event::start());
        send(Event::spawned(100));
    }
    void to_running() {
        to_starting();
        advance(m.policy().startsecs);
        send(Event::timer_fired(Timer::start_secs));
    }
    void to_backoff() {
        to_running();
        send(Event::exited({false, 1, 0}));
    }
    void to_stopping() {
        to_running();
        send(Event::stop());
    }
    void to_state(State s) {
        switch (s) {
            case State::stopped: break;
            case State::starting: to_starting(); break;
            case State::running: to_running(); break;
            case State::backoff: to_backoff(); break;
            case State::stopping: to_stopping(); break;
            case State::exited:
            case State::fatal: break;  // need other policies; built by the caller
        }
        REQUIRE(m.state() == s);
    }
};

bool has(const Decision& d, Action::Type t) {
    for (const auto& a : d.actions)
        if (a.type == t) return true;
    return false;
}

const Action* find(const Decision& d, Action::Type t) {
    for (const auto& a : d.actions)
        if (a.type == t) return &a;
    return nullptr;
}

Event exit_code(int c) { return Event::exited({false, c, 0}); }
Event killed(int sig) { return Event::exited({true, 0, sig}); }

Policy never_restart() {
    Policy p;
    p.autorestart = AutoRestart::never;
    return p;
}

Policy no_retries() {
    Policy p;
    p.startretries = 0;
    return p;
}

}  // namespace

// Every state × event pair, decided on purpose. One row per pair: from, the
// event, the state it must lead to.
TEST_CASE("process machine: every state x event pair", "[machine]") {
    struct Row {
        State from;
        const char* event;
        State to;
    };
    const auto S = State::stopped, G = State::starting, R = State::running, B = State::backoff,
               P = State::stopping, X = State::exited, F = State::fatal;
    const std::vector<Row> table{
        {S, "start", G}, {S, "stop", S}, {S, "restart", G}, {S, "spawned", S}, {S, "spawn_failed", S},
        {S, "exited", S}, {S, "t_start", S}, {S, "t_backoff", S}, {S, "t_stop", S}, {S, "ready", S}, {S, "unhealthy", S},
        {G, "start", G}, {G, "stop", P}, {G, "restart", P}, {G, "spawned", G}, {G, "spawn_failed", B},
        {G, "exited", B}, {G, "t_start", R}, {G, "t_backoff", G}, {G, "t_stop", G}, {G, "ready", G}, {G, "unhealthy", P},
        {R, "start", R}, {R, "stop", P}, {R, "restart", P}, {R, "spawned", R}, {R, "spawn_failed", R},
        {R, "exited", B}, {R, "t_start", R}, {R, "t_backoff", R}, {R, "t_stop", R}, {R, "ready", R}, {R, "unhealthy", P},
        {B, "start", G}, {B, "stop", S}, {B, "restart", G}, {B, "spawned", B}, {B, "spawn_failed", B},
        {B, "exited", B}, {B, "t_start", B}, {B, "t_backoff", G}, {B, "t_stop", B}, {B, "ready", B}, {B, "unhealthy", B},
        {P, "start", P}, {P, "stop", P}, {P, "restart", P}, {P, "spawned", P}, {P, "spawn_failed", P},
        {P, "exited", S}, {P, "t_start", P}, {P, "t_backoff", P}, {P, "t_stop", P}, {P, "ready", P}, {P, "unhealthy", P},
        {X, "start", G}, {X, "stop", X}, {X, "restart", G}, {X, "spawned", X}, {X, "spawn_failed", X},
        {X, "exited", X}, {X, "t_start", X}, {X, "t_backoff", X}, {X, "t_stop", X}, {X, "ready", X}, {X, "unhealthy", X},
        {F, "start", G}, {F, "stop", F}, {F, "restart", G}, {F, "spawned", F}, {F, "spawn_failed", F},
        {F, "exited", F}, {F, "t_start", F}, {F, "t_backoff", F}, {F, "t_stop", F}, {F, "ready", F}, {F, "unhealthy", F},
    };
    auto event = [](const std::string& n) {
        if (n == "start") return Event::start();
        if (n == "stop") return Event::stop();
        if (n == "restart") return Event::restart();
        if (n == "spawned") return Event::spawned(200);
        if (n == "spawn_failed") return Event::spawn_failed(2);
        if (n == "exited") return exit_code(1);
        if (n == "t_start") return Event::timer_fired(Timer::start_secs);
        if (n == "t_backoff") return Event::timer_fired(Timer::backoff);
        if (n == "unhealthy") return Event::unhealthy();
        if (n == "ready") return Event::ready();
        return Event::timer_fired(Timer::stop_wait);
    };
    REQUIRE(table.size() == 7 * 11);
    for (const auto& row : table) {
        INFO(std::string(state_name(row.from)) + " + " + row.event);
        Driver d(row.from == X ? never_restart() : row.from == F ? no_retries() : Policy{});
        if (row.from == X) {
            d.to_running();
            d.send(exit_code(0));
        } else if (row.from == F) {
            d.send(Event::start());
            d.send(Event::spawn_failed(2));
        } else {
            d.to_state(row.from);
        }
        REQUIRE(d.m.state() == row.from);
        const Decision dec = d.send(event(row.event));
        CHECK(d.m.state() == row.to);
        CHECK(dec.from == row.from);
        CHECK(dec.to == row.to);
    }
}

TEST_CASE("process machine: start spawns, spawned arms startsecs, timer makes it RUNNING", "[machine]") {
    Driver d;
    auto dec = d.send(Event::start());
    CHECK(d.m.state() == State::starting);
    CHECK(has(dec, Action::Type::spawn));
    dec = d.send(Event::spawned(42));
    CHECK(d.m.pid() == 42);
    const Action* arm = find(dec, Action::Type::arm_timer);
    REQUIRE(arm);
    CHECK(arm->timer == Timer::start_secs);
    CHECK(arm->delay == 1000ms);
    d.advance(1000ms);
    d.send(Event::timer_fired(Timer::start_secs));
    CHECK(d.m.state() == State::running);
}

TEST_CASE("process machine: startsecs=0 is RUNNING as soon as it is spawned", "[machine]") {
    Policy p;
    p.startsecs = 0ms;
    Driver d(p);
    d.send(Event::start());
    auto dec = d.send(Event::spawned(7));
    CHECK(d.m.state() == State::running);
    CHECK_FALSE(has(dec, Action::Type::arm_timer));
}

TEST_CASE("process machine: a crash loop follows the backoff sequence", "[machine]") {
    Driver d;
    d.send(Event::start());
    std::vector<long> delays;
    for (int i = 0; i < 7; ++i) {
        d.send(Event::spawned(100 + i));
        d.advance(10ms);
        auto dec = d.send(exit_code(1));  // dies within startsecs
        REQUIRE(d.m.state() == State::backoff);
        const Action* arm = find(dec, Action::Type::arm_timer);
        REQUIRE(arm);
        CHECK(arm->timer == Timer::backoff);
        delays.push_back(arm->delay.count());
        d.advance(arm->delay);
        auto next = d.send(Event::timer_fired(Timer::backoff));
        CHECK(has(next, Action::Type::spawn));
    }
    const std::vector<long> nominal{1000, 2000, 4000, 8000, 16000, 32000, 60000};
    for (std::size_t i = 0; i < nominal.size(); ++i) {
        CHECK(delays[i] >= nominal[i] * 9 / 10);
        CHECK(delays[i] <= nominal[i] * 11 / 10);
    }
    CHECK(d.m.restarts() == 7);
}

TEST_CASE("process machine: a crash after RUNNING is delayed too, not restarted at once", "[machine]") {
    Driver d;
    d.to_running();
    d.advance(5s);
    auto dec = d.send(killed(9));
    CHECK(d.m.state() == State::backoff);
    const Action* arm = find(dec, Action::Type::arm_timer);
    REQUIRE(arm);
    CHECK(arm->delay >= 900ms);
    CHECK_FALSE(has(dec, Action::Type::spawn));
    CHECK(dec.reason.find("killed by SIGKILL") != std::string::npos);
}

TEST_CASE("process machine: backoff restarts from 1s after a run of backoff_reset", "[machine]") {
    Driver d;
    d.to_running();
    for (int i = 0; i < 4; ++i) {  // short runs: the delay grows
        d.advance(2s);
        auto dec = d.send(exit_code(1));
        d.advance(find(dec, Action::Type::arm_timer)->delay);
        d.send(Event::timer_fired(Timer::backoff));
        d.send(Event::spawned(300 + i));
        d.advance(1s);
        d.send(Event::timer_fired(Timer::start_secs));
    }
    d.advance(60s);  // a stable run
    auto dec = d.send(exit_code(1));
    const Action* arm = find(dec, Action::Type::arm_timer);
    REQUIRE(arm);
    CHECK(arm->delay <= 1100ms);
}

TEST_CASE("process machine: startretries gives up with FATAL after N+1 failed starts", "[machine]") {
    Policy p;
    p.startretries = 2;
    Driver d(p);
    d.send(Event::start());
    for (int i = 0; i < 2; ++i) {
        d.send(Event::spawn_failed(2));
        REQUIRE(d.m.state() == State::backoff);
        d.send(Event::timer_fired(Timer::backoff));
    }
    auto dec = d.send(Event::spawn_failed(2));
    CHECK(d.m.state() == State::fatal);
    CHECK(dec.reason.find("gave up after 3 failed starts") != std::string::npos);
    // An operator start from FATAL tries again with a fresh count.
    d.send(Event::start());
    CHECK(d.m.state() == State::starting);
    CHECK(d.m.failed_starts() == 0);
}

TEST_CASE("process machine: unlimited startretries never goes FATAL", "[machine]") {
    Driver d;
    d.send(Event::start());
    for (int i = 0; i < 500; ++i) {
        d.send(Event::spawn_failed(2));
        REQUIRE(d.m.state() == State::backoff);
        d.send(Event::timer_fired(Timer::backoff));
    }
    CHECK(d.m.state() == State::starting);
}

TEST_CASE("process machine: autorestart=unexpected honours exitcodes", "[machine]") {
    Policy p;
    p.autorestart = AutoRestart::unexpected;
    p.exitcodes = {0, 2};
    SECTION("expected code: EXITED") {
        Driver d(p);
        d.to_running();
        d.send(exit_code(2));
        CHECK(d.m.state() == State::exited);
    }
    SECTION("unexpected code: restarted") {
        Driver d(p);
        d.to_running();
        d.send(exit_code(1));
        CHECK(d.m.state() == State::backoff);
    }
    SECTION("a signal is never expected") {
        Driver d(p);
        d.to_running();
        d.send(killed(15));
        CHECK(d.m.state() == State::backoff);
    }
}

TEST_CASE("process machine: autorestart=false leaves an exited program down", "[machine]") {
    Driver d(never_restart());
    d.to_running();
    auto dec = d.send(exit_code(1));
    CHECK(d.m.state() == State::exited);
    CHECK(dec.actions.size() == 0);
    REQUIRE(d.m.last_exit());
    CHECK(d.m.last_exit()->code == 1);
}

TEST_CASE("process machine: stop signals the group, then SIGKILL after stopwaitsecs", "[machine]") {
    Policy p;
    p.stopsignal = 2;
    p.stopwaitsecs = 3s;
    Driver d(p);
    d.to_running();
    auto dec = d.send(Event::stop());
    CHECK(d.m.state() == State::stopping);
    const Action* sig = find(dec, Action::Type::signal);
    REQUIRE(sig);
    CHECK(sig->signal == 2);
    CHECK(sig->to_group);
    const Action* arm = find(dec, Action::Type::arm_timer);
    REQUIRE(arm);
    CHECK(arm->timer == Timer::stop_wait);
    CHECK(arm->delay == 3s);
    d.advance(3s);
    dec = d.send(Event::timer_fired(Timer::stop_wait));
    sig = find(dec, Action::Type::signal);
    REQUIRE(sig);
    CHECK(sig->signal == 9);
    CHECK(d.m.state() == State::stopping);
    dec = d.send(killed(9));
    CHECK(d.m.state() == State::stopped);
    CHECK(has(dec, Action::Type::cancel_timer));
}

TEST_CASE("process machine: restart stops, then spawns when the old process is gone", "[machine]") {
    Driver d;
    d.to_running();
    d.send(Event::restart());
    CHECK(d.m.state() == State::stopping);
    CHECK(d.m.start_pending());
    auto dec = d.send(killed(15));
    CHECK(d.m.state() == State::starting);
    CHECK(has(dec, Action::Type::spawn));
}

TEST_CASE("process machine: stop during STOPPING cancels a pending restart", "[machine]") {
    Driver d;
    d.to_running();
    d.send(Event::restart());
    d.send(Event::stop());
    d.send(killed(15));
    CHECK(d.m.state() == State::stopped);
}

TEST_CASE("process machine: stop in BACKOFF cancels the pending restart", "[machine]") {
    Driver d;
    d.to_backoff();
    auto dec = d.send(Event::stop());
    CHECK(d.m.state() == State::stopped);
    const Action* c = find(dec, Action::Type::cancel_timer);
    REQUIRE(c);
    CHECK(c->timer == Timer::backoff);
}

TEST_CASE("process machine: exit status texts", "[machine]") {
    CHECK(ExitStatus{false, 3, 0}.describe() == "exit status 3");
    CHECK(ExitStatus{true, 0, 9}.describe() == "killed by SIGKILL");
    CHECK(state_name(State::backoff) == "BACKOFF");
}

TEST_CASE("process machine: a failed liveness check stops it, then restarts through the backoff", "[machine]") {
    Driver d;
    d.to_running();
    d.advance(10s);
    auto dec = d.send(Event::unhealthy());
    CHECK(d.m.state() == State::stopping);
    REQUIRE(find(dec, Action::Type::signal));
    CHECK(find(dec, Action::Type::signal)->signal == 15);
    CHECK(dec.reason.find("liveness") != std::string::npos);
    dec = d.send(killed(15));
    CHECK(d.m.state() == State::backoff);
    const Action* arm = find(dec, Action::Type::arm_timer);
    REQUIRE(arm);
    CHECK(arm->timer == Timer::backoff);
    CHECK(arm->delay >= 900ms);
    d.send(Event::timer_fired(Timer::backoff));
    CHECK(d.m.state() == State::starting);
    CHECK(d.m.restarts() == 1);
}

TEST_CASE("process machine: an operator stop overrides a pending liveness restart", "[machine]") {
    Driver d;
    d.to_running();
    d.send(Event::unhealthy());
    d.send(Event::stop());
    d.send(killed(15));
    CHECK(d.m.state() == State::stopped);
}

TEST_CASE("process machine: with notify, READY=1 makes it RUNNING, not startsecs", "[machine]") {
    Policy p;
    p.notify = true;
    p.startsecs = 1000ms;
    Driver d(p);
    d.send(Event::start());
    auto dec = d.send(Event::spawned(5));
    CHECK(d.m.state() == State::starting);
    CHECK_FALSE(find(dec, Action::Type::arm_timer));
    d.advance(5s);
    d.send(Event::timer_fired(Timer::start_secs));  // stale: nothing armed it
    CHECK(d.m.state() == State::starting);
    dec = d.send(Event::ready());
    CHECK(d.m.state() == State::running);
    CHECK(dec.reason == "READY=1");
}

TEST_CASE("process machine: with notify, an exit before READY=1 is a failed start", "[machine]") {
    Policy p;
    p.notify = true;
    Driver d(p);
    d.send(Event::start());
    d.send(Event::spawned(5));
    d.advance(30s);
    d.send(exit_code(1));
    CHECK(d.m.state() == State::backoff);
    CHECK(d.m.failed_starts() == 1);
}
