// vigild's re-exec on the pure side: a machine restored from its snapshot
// goes on exactly where the old one was, and a set restored from what the
// old image knew commands nothing for processes that run on.
#include <catch2/catch.hpp>

#include "process_set_world.hpp"

using namespace std::chrono_literals;
using namespace vigil::core;
using namespace vigil::core::testing;
using vigil::config::Config;
using Log = std::vector<std::string>;

TEST_CASE("reexec: a machine restored in BACKOFF keeps its counts and its delay sequence") {
    Policy p;
    p.backoff = {Duration{1000}, 2.0, Duration{60000}};
    Rng rng{1};
    ProcessMachine old(p);
    TimePoint now{};
    old.handle(Event::start(), now, rng);
    old.handle(Event::spawned(100), now, rng);
    old.handle(Event::exited({false, 1, 0}), now, rng);  // within startsecs: a failed start
    REQUIRE(old.state() == State::backoff);
    const MachineSnapshot snap = old.snapshot();

    ProcessMachine fresh(p);
    fresh.restore(snap);
    CHECK(fresh.state() == State::backoff);
    CHECK(fresh.pid() == 0);
    CHECK(fresh.failed_starts() == 1);
    CHECK(fresh.last_delay() == old.last_delay());
    // The timer fires in the new image: the spawn counts as a restart, and
    // the next failure waits the next step of the sequence (about 2 s).
    const Decision d = fresh.handle(Event::timer_fired(Timer::backoff), now, rng);
    CHECK(d.to == State::starting);
    CHECK(fresh.restarts() == 1);
    fresh.handle(Event::spawned(101), now, rng);
    fresh.handle(Event::exited({false, 1, 0}), now, rng);
    CHECK(fresh.last_delay() >= 1800ms);
    CHECK(fresh.last_delay() <= 2200ms);
}

TEST_CASE("reexec: a machine restored RUNNING is the same process, stoppable as before") {
    Policy p;
    Rng rng{1};
    ProcessMachine old(p);
    TimePoint now{};
    old.handle(Event::start(), now, rng);
    old.handle(Event::spawned(4242), now, rng);
    old.handle(Event::timer_fired(Timer::start_secs), now + 1s, rng);
    REQUIRE(old.state() == State::running);
    ProcessMachine fresh(p);
    fresh.restore(old.snapshot());
    CHECK(fresh.pid() == 4242);
    CHECK(fresh.started_at() == old.started_at());
    const Decision d = fresh.handle(Event::stop(), now + 2s, rng);
    CHECK(d.to == State::stopping);
}

TEST_CASE("reexec: a restored set commands nothing for what runs and keeps intents") {
    Config c;
    c.programs = {program("db"), program("api", {"db"}), program("manual")};
    World w(c);
    std::map<std::string, ProcessSet::Carried> carried;
    carried["db"] = {Intent::up, State::running, 100, std::nullopt};
    carried["api"] = {Intent::up, State::running, 101, std::nullopt};
    carried["manual"] = {Intent::stopped_by_hand, State::stopped, 0, std::nullopt};
    w.run(w.set.restore(carried, w.now));
    CHECK(w.take().empty());
    CHECK(w.set.start_settled());
    CHECK(w.set.intent("manual") == Intent::stopped_by_hand);
    CHECK(w.set.state("api") == State::running);
    CHECK(w.set.carry_refusal().empty());
}

TEST_CASE("reexec: a set half-way through a change refuses to be carried") {
    Config c;
    c.programs = {program("a")};
    World w(c);
    CHECK(w.set.carry_refusal().empty());
    w.run(w.set.shutdown(w.now));
    CHECK(w.set.carry_refusal() == "vigild is shutting down");
}
