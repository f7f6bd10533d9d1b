// The proxy's planned restarts as handovers, and its place in the shutdown
// order, as scripts on a manual clock (process_set_handover.cpp).
#include <catch2/catch.hpp>

#include <algorithm>

#include "process_set_world.hpp"

using namespace std::chrono_literals;
using namespace vigil::core;
using namespace vigil::core::testing;
using vigil::config::Config;
using vigil::config::Program;
using Log = std::vector<std::string>;

namespace {

// Two pool members and a proxy that says READY=1 and whose sockets vigild holds.
Config stack() {
    Config c;
    c.programs = {program("a"), program("b"), program("proxy")};
    Program& px = c.programs[2];
    px.kind = "proxy";
    px.notify = true;
    px.sockets = {"tcp://127.0.0.1:8080"};
    vigil::config::Upstream u;
    u.name = "web";
    u.servers = {"a", "b"};
    c.upstreams.push_back(u);
    return c;
}

const std::string kIn = World::incoming("proxy");

// Everything up, the proxy READY, the log read.
void bring_up(World& w) {
    w.run(w.set.startup(w.now));
    w.send("proxy", Event::ready());
    w.advance(1s);
    w.take();
    REQUIRE(w.state("proxy") == State::running);
}

}  // namespace

TEST_CASE("handover: the new proxy starts beside the old, gets the pools, then the old one drains") {
    World w(stack());
    bring_up(w);
    const int old_pid = w.pid("proxy");
    w.run(w.set.wait(1, {{"proxy", WaitGoal::restarted}}, w.now + 30s, w.now));
    w.auto_barrier = false;
    w.run(w.set.restart("proxy", w.now));
    CHECK(w.take() == Log{"handover_start proxy"});  // no stop of the running one
    CHECK(w.state("proxy") == State::running);
    CHECK(w.pid("proxy") == old_pid);
    CHECK(w.set.handover_under_way());
    CHECK(w.set.proxy_up());  // pushes still go out meanwhile

    w.send(kIn, Event::ready());  // READY=1 from the incoming
    CHECK(w.take() == Log{"handover_swap proxy 1", "define_pools", "set_member web/a up", "set_member web/b up",
                          "handover_barrier 1", "wait_done 1 ok"});
    CHECK(w.pid("proxy") != old_pid);
    CHECK(w.set.state("proxy") == State::running);
    CHECK(w.exists(World::retiring("proxy", 1)));
    CHECK(w.state(World::retiring("proxy", 1)) == State::running);  // still serving until the pools are in

    w.barriers();  // every push answered
    CHECK(w.take() == Log{"retire 1", "drop_retired 1"});  // its stop signal; it exits
    CHECK_FALSE(w.exists(World::retiring("proxy", 1)));
    CHECK(w.set.retiring_count() == 0);
    CHECK_FALSE(w.set.handover_under_way());
}

TEST_CASE("handover: an update that changes the proxy hands over instead of stopping it") {
    World w(stack());
    bring_up(w);
    Config next = stack();
    next.programs[2].environment.emplace_back("X", "1");
    w.config = next;
    ConfigDiff d;
    d.changed = {"proxy"};
    d.unchanged = {"a", "b"};
    w.run(w.set.update(next, d, w.now));
    const auto log = w.take();
    CHECK(std::count(log.begin(), log.end(), "handover_start proxy") == 1);
    CHECK(std::count(log.begin(), log.end(), "stop proxy") == 0);
    CHECK(w.set.intent("proxy") == Intent::up);  // never replacing: never down
    w.send(kIn, Event::ready());
    CHECK(w.take().back() == "drop_retired 1");
}

TEST_CASE("handover: a new proxy that fails to start leaves the old one serving") {
    World w(stack());
    bring_up(w);
    const int old_pid = w.pid("proxy");
    w.run(w.set.wait(2, {{"proxy", WaitGoal::restarted}}, w.now + 30s, w.now));
    w.run(w.set.restart("proxy", w.now));
    w.take();
    w.exit(kIn, 2);  // exits before READY=1: BACKOFF, no process
    CHECK(w.take() == Log{"handover_abort proxy 0", "wait_done 2 failed"});
    CHECK_FALSE(w.exists(kIn));
    CHECK(w.pid("proxy") == old_pid);
    CHECK(w.set.state("proxy") == State::running);
    REQUIRE(w.wait_done(2));
    CHECK(w.wait_done(2)->results[0].message.find("keeps serving") != std::string::npos);
}

TEST_CASE("handover: no READY=1 within the deadline stops the new proxy, the old one serves on") {
    World w(stack());
    bring_up(w);
    const int old_pid = w.pid("proxy");
    w.run(w.set.restart("proxy", w.now));
    w.take();
    w.advance(ProcessSet::kHandoverReady - 1ms);
    CHECK(w.take().empty());
    w.advance(1ms);
    CHECK(w.take() == Log{"handover_abort proxy 1", "drop_retired 1"});  // stopped as retiring 1, then gone
    CHECK(w.pid("proxy") == old_pid);
    CHECK_FALSE(w.set.handover_under_way());
}

TEST_CASE("handover: a restart during a handover is one more handover after it") {
    World w(stack());
    bring_up(w);
    w.run(w.set.restart("proxy", w.now));
    w.run(w.set.restart("proxy", w.now));
    CHECK(w.take() == Log{"handover_start proxy"});
    w.send(kIn, Event::ready());
    const auto log = w.take();
    CHECK(std::count(log.begin(), log.end(), "handover_start proxy") == 1);  // the second one
    CHECK(log.back() == "drop_retired 1");
    w.send(kIn, Event::ready());
    CHECK(w.take().back() == "drop_retired 2");
}

TEST_CASE("handover: a proxy without held sockets, or not running, restarts the plain way") {
    Config c = stack();
    c.programs[2].sockets.clear();
    World w(c);
    bring_up(w);
    w.run(w.set.restart("proxy", w.now));
    CHECK(w.take().front() == "restart proxy");
}

TEST_CASE("handover: a retiring proxy that dies before its drain is not started again") {
    World w(stack());
    bring_up(w);
    w.auto_barrier = false;
    w.run(w.set.restart("proxy", w.now));
    w.send(kIn, Event::ready());
    w.take();
    w.exit(World::retiring("proxy", 1), 1);  // crashes before the barrier
    w.advance(10s);
    const auto log = w.take();
    CHECK(std::find(log.begin(), log.end(), "drop_retired 1") != log.end());
    CHECK_FALSE(w.exists(World::retiring("proxy", 1)));
    CHECK(std::count(log.begin(), log.end(), "handover_start proxy") == 0);
}

TEST_CASE("shutdown: the proxy drains first, its pool members are stopped once it is down") {
    World w(stack());
    bring_up(w);
    w.slow = {"proxy"};  // it drains for a while
    w.run(w.set.shutdown(w.now));
    CHECK(w.take() == Log{"stop proxy"});  // a and b wait for it
    w.advance(10s);                        // stopwaitsecs: SIGKILL
    CHECK(w.take() == Log{"proxy_gone", "stop b", "stop a", "all_down"});  // no push: the proxy is gone
}

TEST_CASE("shutdown: a handover under way is given up and every proxy stopped before the members") {
    World w(stack());
    bring_up(w);
    w.auto_barrier = false;
    w.run(w.set.restart("proxy", w.now));
    w.send(kIn, Event::ready());  // swapped; the old one (retiring 1) waits for its barrier
    w.take();
    w.slow = {World::retiring("proxy", 1)};
    w.run(w.set.shutdown(w.now));
    CHECK(w.take() == Log{"retire 1", "stop proxy", "proxy_gone"});
    w.advance(10s);  // the retiring one's SIGKILL
    CHECK(w.take() == Log{"drop_retired 1", "stop b", "stop a", "all_down"});
}
