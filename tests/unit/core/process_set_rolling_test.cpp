// Rolling restarts as scripts on a manual clock: the set decides every phase
// (hold "draining", count the requests in flight, restart, wait until RUNNING
// and healthy, release "up", next), the World carries its commands out
// against pure machines and a pretend proxy.
#include <catch2/catch.hpp>

#include <algorithm>

#include "process_set_world.hpp"

using namespace std::chrono_literals;
using namespace vigil::core;
using namespace vigil::core::testing;
using vigil::config::Config;
using vigil::config::HealthKind;
using Log = std::vector<std::string>;

namespace {

// Three pool members checked over HTTP, one program outside every pool (no
// healthcheck), and the proxy.
Config pool_of_three() {
    Config c;
    c.programs = {program("b1"), program("b2"), program("b3"), program("solo"), program("proxy")};
    for (int i = 0; i < 3; ++i) {
        c.programs[i].health.kind = HealthKind::http;
        c.programs[i].health.target = "http://127.0.0.1:800" + std::to_string(i + 1) + "/health";
    }
    c.programs[4].kind = "proxy";
    vigil::config::Upstream u;
    u.name = "web";
    u.servers = {"b1", "b2", "b3"};
    c.upstreams.push_back(u);
    return c;
}

// Everything RUNNING, the members healthy and "up" at the proxy.
World& serving(World& w) {
    w.run(w.set.startup(w.now));
    w.advance(5s);  // every startsecs
    for (const char* b : {"b1", "b2", "b3"}) w.health(b, HealthStatus::healthy);
    w.take();
    return w;
}

RollOptions within(Duration timeout, std::optional<Duration> drain = std::nullopt) {
    RollOptions o;
    o.timeout = timeout;
    o.drain_timeout = drain;
    return o;
}

// The commands of `log` that are not the drain's polls.
Log without_polls(Log log) {
    log.erase(
        std::remove_if(log.begin(), log.end(), [](const std::string& l) { return l.rfind("count_active", 0) == 0; }),
        log.end());
    return log;
}

const Command* step_of(const World& w, const std::string& name, RollStep step) {
    for (const auto& c : w.roll_report)
        if (c.type == Command::Type::roll_step && c.name == name && c.step == step) return &c;
    return nullptr;
}

const Command& done_of(const World& w) {
    REQUIRE(!w.roll_report.empty());
    REQUIRE(w.roll_report.back().type == Command::Type::roll_done);
    return w.roll_report.back();
}

// One instance's turn once its drain has begun, on the happy path: drained,
// restarted, RUNNING after startsecs, healthy, back "up".
void turn(World& w, const std::string& name) {
    w.advance(20ms);  // the first count: nothing in flight
    CHECK(w.take() ==
          Log{"count_active " + name, "roll " + name + " drained", "restart " + name, "roll " + name + " stopped"});
    w.advance(1s);  // startsecs
    CHECK(w.take() == Log{"roll " + name + " started"});
    w.health(name, HealthStatus::starting);
    CHECK(w.take().empty());  // held: vigild's own view is not pushed
    w.health(name, HealthStatus::healthy);
}

}  // namespace

TEST_CASE("rolling: each instance in turn is drained, restarted, healthy and back up before the next") {
    World w(pool_of_three());
    serving(w);
    const int old1 = w.pid("b1"), old2 = w.pid("b2"), old3 = w.pid("b3");
    w.active["b1"] = 2;
    w.run(w.set.roll(1, {"b1", "b2", "b3"}, within(5s), w.now));
    CHECK(w.take() == Log{"roll start", "set_member web/b1 draining", "roll b1 draining"});
    CHECK(w.set.rolling("b3"));
    CHECK(w.set.held_member("b1"));
    CHECK(step_of(w, "b1", RollStep::draining)->reason == "out of pool web, waiting up to 10s for its active requests");
    w.advance(40ms);  // two requests still in flight: counted again every 20 ms
    CHECK(w.take() == Log{"count_active b1", "count_active b1"});
    w.active["b1"] = 0;
    turn(w, "b1");
    CHECK(w.take() == Log{"roll b1 healthy", "set_member web/b1 up", "roll b1 up", "set_member web/b2 draining",
                          "roll b2 draining"});
    CHECK(w.proxy_pools["web/b1"] == "up");
    turn(w, "b2");
    CHECK(w.take() == Log{"roll b2 healthy", "set_member web/b2 up", "roll b2 up", "set_member web/b3 draining",
                          "roll b3 draining"});
    turn(w, "b3");
    CHECK(w.take() == Log{"roll b3 healthy", "set_member web/b3 up", "roll b3 up", "roll done ok"});

    const Command& done = done_of(w);
    CHECK(done.ok);
    CHECK(done.names == std::vector<std::string>{"b1", "b2", "b3"});
    CHECK(done.untouched.empty());
    CHECK(done.reason == "3 restarted");
    CHECK(step_of(w, "b1", RollStep::healthy)->reason == "http://127.0.0.1:8001/health");
    CHECK(step_of(w, "b2", RollStep::started)->reason == "pid " + std::to_string(w.pid("b2")));
    CHECK(step_of(w, "b1", RollStep::stopped)->reason == "killed by SIGTERM");
    CHECK(w.pid("b1") != old1);
    CHECK(w.pid("b2") != old2);
    CHECK(w.pid("b3") != old3);
    CHECK_FALSE(w.set.rolling("b1"));
    CHECK_FALSE(w.set.held_member("b3"));
}

TEST_CASE("rolling: an instance that never gets healthy stops the roll, is released, the rest untouched") {
    World w(pool_of_three());
    serving(w);
    const int old2 = w.pid("b2");
    w.run(w.set.roll(1, {"b1", "b2", "b3"}, within(2s), w.now));
    w.advance(20ms);
    w.advance(1s);  // RUNNING with a new pid; its check never passes
    w.take();
    w.advance(999ms);
    CHECK(w.take().empty());
    w.advance(1ms);  // 2 s after the restart
    // Released to what its own health says: down, not stuck draining.
    CHECK(w.take() == Log{"roll b1 failed", "set_member web/b1 down", "roll done failed"});
    CHECK(step_of(w, "b1", RollStep::failed)->reason == "not healthy within 2s");
    const Command& done = done_of(w);
    CHECK_FALSE(done.ok);
    CHECK(done.reason == "b1: not healthy within 2s; 2 left untouched");
    CHECK(done.untouched == std::vector<std::string>{"b2", "b3"});
    CHECK(done.names.empty());
    CHECK(w.pid("b2") == old2);
    CHECK(w.proxy_pools["web/b2"] == "up");
    CHECK_FALSE(w.set.held_member("b1"));
    CHECK_FALSE(w.set.rolling("b1"));

    // The roll is over: vigild's own view drives b1 again.
    w.health("b1", HealthStatus::healthy);
    CHECK(w.take() == Log{"set_member web/b1 up"});
}

TEST_CASE("rolling: a restart that never reaches RUNNING times out as such") {
    Config c = pool_of_three();
    c.programs[0].startsecs = 5s;
    World w(c);
    serving(w);
    w.run(w.set.roll(1, {"b1"}, within(2s), w.now));
    w.advance(20ms);
    w.advance(2s);
    CHECK(step_of(w, "b1", RollStep::failed)->reason == "not RUNNING within 2s");
    CHECK(done_of(w).reason == "b1: not RUNNING within 2s");
}

TEST_CASE("rolling: a crash mid-roll") {
    Config c = pool_of_three();
    c.programs[1].startretries = 0;
    World w(c);
    serving(w);
    w.run(w.set.roll(1, {"b1", "b2", "b3"}, within(10s), w.now));
    w.advance(20ms);
    w.advance(1s);
    CHECK(w.take() == Log{"roll start", "set_member web/b1 draining", "roll b1 draining", "count_active b1",
                          "roll b1 drained", "restart b1", "roll b1 stopped", "roll b1 started"});

    SECTION("the new process crashes before it is healthy: its backoff brings it back, and the roll goes on") {
        const int crashed = w.pid("b1");
        w.exit("b1");             // BACKOFF: the machine starts it again
        CHECK(w.take().empty());  // held: no push, no verdict yet
        w.advance(5s);            // backoff, then startsecs
        CHECK(w.state("b1") == State::running);
        CHECK(w.pid("b1") != crashed);
        w.health("b1", HealthStatus::healthy);
        CHECK(w.take() == Log{"roll b1 healthy", "set_member web/b1 up", "roll b1 up", "set_member web/b2 draining",
                              "roll b2 draining"});
    }

    SECTION("an instance that gives up (FATAL) stops the roll there") {
        w.health("b1", HealthStatus::healthy);
        w.take();
        w.advance(20ms);  // b2 drained and restarted
        w.take();
        w.exit("b2");  // in STARTING, no retries left: FATAL
        CHECK(w.state("b2") == State::fatal);
        CHECK(w.take() == Log{"roll b2 failed", "set_member web/b2 down", "roll done failed"});
        CHECK(step_of(w, "b2", RollStep::failed)->reason.rfind("gave up: ", 0) == 0);
        CHECK(done_of(w).names == std::vector<std::string>{"b1"});
        CHECK(done_of(w).untouched == std::vector<std::string>{"b3"});
    }
}

TEST_CASE("rolling: a lost push to the proxy during the roll") {
    World w(pool_of_three());
    serving(w);

    SECTION("a hold the proxy does not take: restarted without a drain") {
        w.auto_ack = false;
        w.run(w.set.roll(1, {"b1"}, within(5s), w.now));
        CHECK(w.take() == Log{"roll start", "set_member web/b1 draining"});
        w.auto_ack = true;
        w.ack_pushes(false);
        // Not acknowledged, the push is forgotten: b1's next change (its
        // stop) sends the held state again.
        CHECK(w.take() == Log{"roll b1 draining", "restart b1", "set_member web/b1 draining", "roll b1 stopped"});
        CHECK(step_of(w, "b1", RollStep::draining)->reason ==
              "vigil-proxy did not take it (HTTP 503); restarting without a drain");
        CHECK(w.proxy_pools["web/b1"] == "draining");
        w.advance(500ms);  // the reconcile finds the proxy in step
        CHECK(w.take() == Log{"check_pools"});
    }

    SECTION("a release the proxy does not take: the roll goes on and the reconcile sends it again") {
        w.run(w.set.roll(1, {"b1", "b2"}, within(5s), w.now));
        w.advance(20ms);
        w.advance(1s);
        w.take();
        w.auto_ack = false;
        w.health("b1", HealthStatus::healthy);
        CHECK(w.take() == Log{"roll b1 healthy", "set_member web/b1 up"});
        w.ack_pushes(false);
        CHECK(w.take() == Log{"roll b1 up", "set_member web/b2 draining"});
        CHECK(step_of(w, "b1", RollStep::up)->reason == "vigil-proxy was not told (HTTP 503); its next resync will");
        CHECK(w.proxy_pools["web/b1"] == "draining");
        w.auto_ack = true;
        w.ack_pushes(true);
        w.take();
        w.advance(500ms);  // the failed release's reconcile; b2's drain goes on meanwhile
        const Log log = without_polls(w.take());
        CHECK(std::find(log.begin(), log.end(), "set_member web/b1 up") != log.end());
        CHECK(w.proxy_pools["web/b1"] == "up");
    }
}

TEST_CASE("rolling: requests still in flight at the drain timeout are cut short") {
    World w(pool_of_three());
    serving(w);
    w.active["b1"] = 3;
    w.run(w.set.roll(1, {"b1"}, within(5s, 100ms), w.now));
    w.advance(99ms);
    CHECK(without_polls(w.take()) == Log{"roll start", "set_member web/b1 draining", "roll b1 draining"});
    w.advance(1ms);
    CHECK(without_polls(w.take()) == Log{"roll b1 drain_timeout", "restart b1", "roll b1 stopped"});
    CHECK(step_of(w, "b1", RollStep::drain_timeout)->reason == "3 requests still active; stopping it anyway");
}

TEST_CASE("rolling: outside every pool no drain, stopped by hand skipped, shutdown ends the roll") {
    World w(pool_of_three());
    serving(w);

    SECTION("no pool, no healthcheck: restarted and waited on until RUNNING") {
        w.run(w.set.stop("b3", w.now));
        w.take();
        w.run(w.set.roll(1, {"b3", "solo"}, within(5s), w.now));
        CHECK(w.take() == Log{"roll start", "roll b3 skipped", "restart solo", "roll solo stopped"});
        CHECK(step_of(w, "b3", RollStep::skipped)->reason == "stopped by hand, left alone");
        w.advance(1s);
        CHECK(w.take() == Log{"roll solo started", "roll done ok"});
        CHECK(done_of(w).names == std::vector<std::string>{"solo"});
    }

    SECTION("shutdown releases the instance draining and reports the rest untouched") {
        w.active["b1"] = 1;
        w.run(w.set.roll(1, {"b1", "b2"}, within(5s), w.now));
        w.advance(20ms);
        w.take();
        w.run(w.set.shutdown(w.now));
        const Log log = w.take();
        REQUIRE(log.size() >= 2);
        CHECK(Log(log.begin(), log.begin() + 2) == Log{"roll b1 failed", "set_member web/b1 up"});
        CHECK(std::find(log.begin(), log.end(), "roll done failed") != log.end());
        CHECK(done_of(w).reason == "b1: vigild is shutting down; 1 left untouched");
        CHECK_FALSE(w.set.rolling("b2"));
    }
}
