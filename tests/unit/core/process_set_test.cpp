// Whole-set rules as scripts: events in, commands out, on a manual clock.
// No processes, no sockets: each scenario runs in well under a millisecond.
#include <catch2/catch.hpp>

#include "process_set_world.hpp"

using namespace std::chrono_literals;
using namespace vigil::core;
using namespace vigil::core::testing;
using vigil::config::Config;
using vigil::config::HealthKind;
using vigil::config::OnUnhealthy;
using Log = std::vector<std::string>;

namespace {

Config three_tier(bool healthy_deps = false) {
    Config c;
    c.programs = {program("db"), program("api", {"db"}, healthy_deps), program("web", {"api"})};
    if (healthy_deps) c.programs[0].health.kind = HealthKind::tcp;
    return c;
}

void run_all(World& w) {
    w.run(w.set.startup(w.now));
    w.advance(1s);  // startsecs of each layer, one after the other
    w.advance(1s);
    w.advance(1s);
}

}  // namespace

TEST_CASE("start follows dependency order, one layer once the one below is RUNNING") {
    World w(three_tier());
    w.run(w.set.startup(w.now));
    CHECK(w.take() == Log{"start db"});
    CHECK(w.set.waiting_for("api") == "waiting for db");
    CHECK_FALSE(w.set.start_settled());
    w.advance(1s);  // db: startsecs
    CHECK(w.take() == Log{"start api"});
    w.advance(1s);
    CHECK(w.take() == Log{"start web"});
    w.advance(1s);
    CHECK(w.state("web") == State::running);
    CHECK(w.set.start_settled());
    CHECK(w.set.waiting_for("api").empty());
}

TEST_CASE("a :healthy dependency waits for the first passing check, not for RUNNING") {
    World w(three_tier(true));
    w.run(w.set.startup(w.now));
    w.advance(1s);
    CHECK(w.take() == Log{"start db"});
    CHECK(w.state("db") == State::running);
    w.health("db", HealthStatus::starting);
    CHECK(w.take().empty());
    w.health("db", HealthStatus::healthy);
    CHECK(w.take() == Log{"start api"});
}

TEST_CASE("start_settled: a process waiting on a dependency that gave up is settled") {
    Config c = three_tier();
    c.programs.pop_back();
    c.programs[0].startretries = 0;
    World w(c);
    w.run(w.set.startup(w.now));
    w.exit("db");  // in STARTING: a failed start, no retries left
    CHECK(w.state("db") == State::fatal);
    CHECK(w.set.start_settled());
}

TEST_CASE("a process that fails while its dependency is down is held, then started when it is back") {
    World w(three_tier());
    run_all(w);
    w.take();
    w.exit("db");  // db crashes: BACKOFF
    w.exit("api");  // api fails against it: held instead of its own backoff
    CHECK(w.take() == Log{"stop api"});
    CHECK(w.set.intent("api") == Intent::held);
    CHECK(w.state("api") == State::stopped);
    CHECK(w.set.waiting_for("api") == "waiting for db");
    w.advance(5s);  // db's backoff, then its startsecs
    CHECK(w.take() == Log{"start api"});
    CHECK(w.set.intent("api") == Intent::up);
}

TEST_CASE("shutdown stops dependents first, each layer once the one above is down") {
    World w(three_tier());
    run_all(w);
    w.take();
    w.run(w.set.shutdown(w.now));
    CHECK(w.take() == Log{"stop web", "stop api", "stop db", "all_down"});
    CHECK(w.all_down);
}

TEST_CASE("shutdown under a slow stop waits for it, then SIGKILL after stopwaitsecs") {
    World w(three_tier());
    run_all(w);
    w.take();
    w.slow.insert("web");
    w.run(w.set.shutdown(w.now));
    CHECK(w.take() == Log{"stop web"});
    CHECK(w.state("web") == State::stopping);
    w.advance(9s);
    CHECK(w.take().empty());  // api still waits for web
    w.advance(1s);            // stopwaitsecs: SIGKILL, web is down
    CHECK(w.take() == Log{"stop api", "stop db", "all_down"});
}

TEST_CASE("shutdown drops pending starts") {
    World w(three_tier());
    w.run(w.set.startup(w.now));
    w.take();
    w.run(w.set.shutdown(w.now));
    CHECK(w.take() == Log{"stop db", "all_down"});
    w.advance(5s);
    CHECK(w.take().empty());
}

TEST_CASE("operator stop is remembered and start waits for dependencies again") {
    World w(three_tier());
    run_all(w);
    w.take();
    w.run(w.set.stop("api", w.now));
    CHECK(w.take() == Log{"stop api"});
    CHECK(w.set.stopped_by_hand("api"));
    w.run(w.set.start("api", w.now));
    CHECK(w.take() == Log{"start api"});
    CHECK_FALSE(w.set.stopped_by_hand("api"));
}

TEST_CASE("stopped by hand before vigild restarted: left down at start-up") {
    World w(three_tier(), {"web"});
    run_all(w);
    CHECK(w.state("web") == State::stopped);
    CHECK(w.set.start_settled());
}

TEST_CASE("update: a changed process is stopped, replaced, and started again") {
    World w(three_tier());
    run_all(w);
    w.take();
    Config next = w.config;
    next.programs[1].command = "/bin/false";
    ConfigDiff d;
    d.changed = {"api"};
    w.config = next;
    w.run(w.set.update(next, d, w.now));
    CHECK(w.take() == Log{"stop api", "replace api", "start api"});
    CHECK(w.set.intent("api") == Intent::up);
}

TEST_CASE("update under a slow stop replaces only once the old process is down") {
    World w(three_tier());
    run_all(w);
    w.take();
    w.slow.insert("api");
    ConfigDiff d;
    d.changed = {"api"};
    w.run(w.set.update(w.config, d, w.now));
    CHECK(w.take() == Log{"stop api"});
    CHECK(w.set.intent("api") == Intent::replacing);
    w.run(w.set.start("api", w.now));  // an operator start meanwhile waits for the replacement
    CHECK(w.take().empty());
    w.advance(10s);
    CHECK(w.take() == Log{"replace api", "start api"});
}

TEST_CASE("update: a removed process is stopped and dropped and an added one starts") {
    World w(three_tier());
    run_all(w);
    w.take();
    Config next = w.config;
    next.programs.erase(next.programs.begin() + 2);  // web
    next.programs.push_back(program("worker", {"db"}));
    ConfigDiff d;
    d.removed = {"web"};
    d.added = {"worker"};
    w.config = next;
    w.run(w.set.update(next, d, w.now));
    CHECK(w.take() == Log{"stop web", "start worker", "remove web"});
    CHECK_FALSE(w.set.known("web"));
}

TEST_CASE("update: a changed process that was stopped by hand stays down") {
    World w(three_tier(), {"web"});
    run_all(w);
    w.take();
    ConfigDiff d;
    d.changed = {"web"};
    w.run(w.set.update(w.config, d, w.now));
    CHECK(w.take() == Log{"stop web", "replace web"});
    CHECK(w.set.stopped_by_hand("web"));
}

TEST_CASE("liveness: unhealthy restarts through the backoff and isolate only takes it out of traffic") {
    Config c;
    c.programs = {program("a"), program("b")};
    c.programs[0].health.kind = HealthKind::tcp;
    c.programs[0].on_unhealthy = OnUnhealthy::restart;
    c.programs[1].health.kind = HealthKind::tcp;
    World w(c);
    w.run(w.set.startup(w.now));
    w.advance(1s);
    w.take();
    w.health("a", HealthStatus::unhealthy);
    CHECK(w.take() == Log{"unhealthy a"});
    CHECK(w.state("a") == State::backoff);
    w.health("b", HealthStatus::unhealthy);
    CHECK(w.take().empty());
    CHECK(w.state("b") == State::running);
}

// --- pools ------------------------------------------------------------------------

namespace {

Config with_proxy() {
    Config c;
    c.programs = {program("a"), program("b"), program("proxy")};
    c.programs[0].health.kind = HealthKind::http;
    c.programs[2].kind = "proxy";
    vigil::config::Upstream u;
    u.name = "web";
    u.servers = {"a", "b"};
    c.upstreams.push_back(u);
    return c;
}

}  // namespace

TEST_CASE("pools: the proxy gets every member when it starts, then each change once") {
    World w(with_proxy());
    w.run(w.set.startup(w.now));
    CHECK(w.take() == Log{"start a", "start b", "start proxy", "define_pools", "set_member web/a down",
                          "set_member web/b down"});
    w.advance(1s);
    CHECK(w.take() == Log{"set_member web/b up"});  // a waits for its healthcheck
    w.health("a", HealthStatus::starting);
    CHECK(w.take().empty());
    w.health("a", HealthStatus::healthy);
    CHECK(w.take() == Log{"set_member web/a up"});
    w.health("a", HealthStatus::unhealthy);  // isolate: out of traffic, left running
    CHECK(w.take() == Log{"set_member web/a down"});
}

TEST_CASE("pools: a lost push is sent again by the reconcile 0.5 s later") {
    World w(with_proxy());
    w.run(w.set.startup(w.now));
    w.advance(1s);
    w.take();
    w.auto_ack = false;
    w.exit("b");
    CHECK(w.take() == Log{"set_member web/b down"});
    w.ack_pushes(false);  // the proxy did not take it
    w.auto_ack = true;
    w.advance(499ms);
    CHECK(w.take().empty());
    w.advance(1ms);
    CHECK(w.take() == Log{"check_pools", "set_member web/b down"});
    CHECK(w.proxy_pools["web/b"] == "down");
}

TEST_CASE("pools: reconciled every 30 s and an unanswered check is tried again sooner") {
    World w(with_proxy());
    w.run(w.set.startup(w.now));
    w.advance(1s);
    w.take();
    w.proxy_pools["web/b"] = "down";  // changed behind vigild's back
    w.advance(29s);
    CHECK(w.take() == Log{"check_pools", "set_member web/b up"});
    w.proxy_answers = false;
    w.advance(30s);
    CHECK(w.take() == Log{"check_pools"});
    w.proxy_answers = true;
    w.advance(2s);
    CHECK(w.take() == Log{"check_pools"});
}

TEST_CASE("pools: the proxy going away drops the queue and its return resyncs") {
    World w(with_proxy());
    w.run(w.set.startup(w.now));
    w.advance(1s);
    w.take();
    w.exit("proxy", 1);
    CHECK(w.take() == Log{"proxy_gone"});
    w.advance(10s);  // its backoff
    const auto log = w.take();
    REQUIRE(log.size() >= 3);
    CHECK(log[0] == "define_pools");
}

// --- waits -------------------------------------------------------------------------

TEST_CASE("waits: complete when every process reaches its goal") {
    World w(three_tier());
    w.run(w.set.startup(w.now));
    w.take();
    w.run(w.set.wait(1, {{"db", WaitGoal::running}, {"web", WaitGoal::running}}, w.now + 10s, w.now));
    CHECK(w.take().empty());
    w.advance(3s);
    CHECK(w.take() == Log{"start api", "start web", "wait_done 1 ok"});
    const Command* done = w.wait_done(1);
    REQUIRE(done);
    REQUIRE(done->results.size() == 2);
    CHECK(done->results[0].name == "db");
    CHECK(done->results[1].state == "RUNNING");
}

TEST_CASE("waits: time out with the state each process is in") {
    World w(three_tier());
    w.run(w.set.startup(w.now));
    w.run(w.set.wait(2, {{"web", WaitGoal::running}}, w.now + 1500ms, w.now));
    w.advance(1500ms);
    const Command* done = w.wait_done(2);
    REQUIRE(done);
    CHECK(done->timed_out);
    CHECK(done->results[0].message == "not RUNNING within 1500ms, it is STOPPED");
}

TEST_CASE("waits: a restart must be seen going down before it counts") {
    World w(three_tier());
    run_all(w);
    w.take();
    w.run(w.set.wait(3, {{"web", WaitGoal::restarted}}, w.now + 10s, w.now));
    CHECK(w.wait_done(3) == nullptr);
    w.run(w.set.restart("web", w.now));
    CHECK(w.wait_done(3) == nullptr);
    w.advance(1s);
    REQUIRE(w.wait_done(3));
    CHECK(w.wait_done(3)->ok);
}

TEST_CASE("waits: a failed start and a stop by hand end a wait at once") {
    World w(three_tier());
    run_all(w);
    w.run(w.set.stop("web", w.now));
    w.run(w.set.wait(4, {{"web", WaitGoal::running}}, w.now + 10s, w.now));
    REQUIRE(w.wait_done(4));
    CHECK(w.wait_done(4)->results[0].message == "stopped by hand (vigilctl start it)");
    w.run(w.set.start("web", w.now));
    w.run(w.set.wait(5, {{"web", WaitGoal::up}}, w.now + 10s, w.now));
    w.exit("web");  // in STARTING: a failed start
    REQUIRE(w.wait_done(5));
    CHECK_FALSE(w.wait_done(5)->ok);
    CHECK(w.wait_done(5)->results[0].message.rfind("failed to start: ", 0) == 0);
}

TEST_CASE("waits: :healthy waits for the check and a zero timeout answers at once") {
    World w(three_tier(true));
    w.run(w.set.startup(w.now));
    w.advance(1s);
    w.run(w.set.wait(6, {{"db", WaitGoal::healthy}}, w.now, w.now));
    REQUIRE(w.wait_done(6));
    CHECK(w.wait_done(6)->timed_out);
    w.run(w.set.wait(7, {{"db", WaitGoal::healthy}, {"nope", WaitGoal::healthy}}, w.now + 5s, w.now));
    w.health("db", HealthStatus::healthy);
    REQUIRE(w.wait_done(7));
    CHECK(w.wait_done(7)->results[0].ok);
    CHECK(w.wait_done(7)->results[1].message == "no such process");
}

TEST_CASE("pools: role = primary has only the primary up, role = replica the replicas, the primary when none is") {
    Config c;
    c.programs = {program("pg"), program("pg-r"), program("proxy")};
    c.programs[2].kind = "proxy";
    vigil::config::Upstream rw, ro;
    rw.name = "rw";
    rw.servers = {"pg", "pg-r"};
    rw.role = vigil::config::Role::primary;
    ro.name = "ro";
    ro.servers = {"pg", "pg-r"};
    ro.role = vigil::config::Role::replica;
    c.upstreams = {rw, ro};
    World w(c);
    using Role = ProcessSet::ReplicaRole;
    w.run(w.set.set_replica_roles({{"pg", Role{true, false}}, {"pg-r", Role{false, true}}}));
    w.run(w.set.startup(w.now));
    w.advance(1s);
    w.take();
    CHECK(w.proxy_pools["rw/pg"] == "up");
    CHECK(w.proxy_pools["rw/pg-r"] == "down");
    CHECK(w.proxy_pools["ro/pg"] == "down");
    CHECK(w.proxy_pools["ro/pg-r"] == "up");
    // failover: pg-r takes writes, pg (fenced, stopped) nothing
    w.run(w.set.set_replica_roles({{"pg", Role{false, false}}, {"pg-r", Role{true, false}}}));
    CHECK(w.proxy_pools["rw/pg"] == "down");
    CHECK(w.proxy_pools["rw/pg-r"] == "up");
    CHECK(w.proxy_pools["ro/pg-r"] == "up");  // the primary serves reads while no replica does
    CHECK(w.proxy_pools["ro/pg"] == "down");
}
