#include <catch2/catch.hpp>

#include "replication_helpers.hpp"

using namespace std::chrono_literals;
using vigil::core::PairPolicy;
using vigil::core::RejoinMethod;
using vigil::core::ReplAction;
using vigil::core::ReplActions;
using vigil::core::ReplicaLag;
using vigil::core::ReplicationPair;
using vigil::core::TimePoint;
using repltest::Type;

namespace {

using repltest::find;
using repltest::logged;

ReplicaLag streaming(std::uint64_t bytes, bool sync = false) { return ReplicaLag{true, sync, bytes, 0ms}; }

// A pair with both servers up, healthy, and the replica confirmed in sync.
struct World {
    TimePoint t{std::chrono::hours(1)};
    PairPolicy policy{3, 60000ms, 10000ms};
    ReplicationPair pair{"pg", {"pg-replica"}, policy};

    World() {
        auto out = pair.on_running("pg", t);
        REQUIRE(find(out, Type::set_async));
        pair.on_done(find(out, Type::set_async)->id, true, "", t);
        pair.on_health("pg", true, t);
        pair.on_running("pg-replica", t);
        pair.on_health("pg-replica", true, t);
        out = pair.on_lag("pg-replica", streaming(0), t);
        const ReplAction* s = find(out, Type::set_sync);
        REQUIRE(s);
        CHECK(s->name == "pg");
        CHECK(s->peer == "pg-replica");
        CHECK_FALSE(pair.synchronous());  // not before the primary says so
        pair.on_done(s->id, true, "", t);
        CHECK_FALSE(pair.synchronous());
        out = pair.on_lag("pg-replica", streaming(0, true), t);
        CHECK(logged(out, "synchronous replication to pg-replica"));
        REQUIRE(pair.synchronous());
    }
    void advance(std::chrono::milliseconds d) { t += d; }
    // Runs a failover to its end, answering every action with success.
    ReplActions complete(ReplActions out) {
        ReplActions all = out;
        for (std::size_t i = 0; i < all.size(); ++i) {
            const ReplAction a = all[i];
            if (a.id == 0 || a.type == Type::rejoin || a.type == Type::set_async || a.type == Type::set_sync) continue;
            auto more = pair.on_done(a.id, true, "", t);
            all.insert(all.end(), more.begin(), more.end());
        }
        return all;
    }
};

}  // namespace

TEST_CASE("replication: a primary restarted with no replica caught up is set asynchronous first",
          "[replication]") {
    ReplicationPair pair("pg", {"r"}, PairPolicy{});
    TimePoint t{};
    auto out = pair.on_running("pg", t);
    REQUIRE(find(out, Type::set_async));
    CHECK(find(out, Type::set_async)->name == "pg");
    CHECK_FALSE(pair.synchronous());
    CHECK(pair.takes_writes("pg"));
    CHECK_FALSE(pair.takes_writes("r"));
}

TEST_CASE("replication: a replica lagging behind is not made synchronous", "[replication]") {
    ReplicationPair pair("pg", {"r"}, PairPolicy{});
    TimePoint t{};
    pair.on_done(find(pair.on_running("pg", t), Type::set_async)->id, true, "", t);
    pair.on_health("pg", true, t);
    pair.on_running("r", t);
    pair.on_health("r", true, t);
    CHECK_FALSE(find(pair.on_lag("r", streaming(65537), t), Type::set_sync));
    CHECK(find(pair.on_lag("r", streaming(65536), t), Type::set_sync));
}

TEST_CASE("replication: the replica down drops to asynchronous at once, caught up restores sync",
          "[replication]") {
    World w;
    auto out = w.pair.on_exited("pg-replica", false, w.t);
    const ReplAction* a = find(out, Type::set_async);
    REQUIRE(a);
    CHECK(a->name == "pg");
    CHECK(a->reason.find("pg-replica stopped") != std::string::npos);
    CHECK_FALSE(w.pair.synchronous());
    w.pair.on_done(a->id, true, "", w.t);

    w.pair.on_running("pg-replica", w.t);
    w.pair.on_health("pg-replica", true, w.t);
    CHECK_FALSE(find(w.pair.on_lag("pg-replica", streaming(1 << 20), w.t), Type::set_sync));
    out = w.pair.on_lag("pg-replica", streaming(0), w.t);
    REQUIRE(find(out, Type::set_sync));
    w.pair.on_done(find(out, Type::set_sync)->id, true, "", w.t);
    w.pair.on_lag("pg-replica", streaming(0, true), w.t);
    CHECK(w.pair.synchronous());
}

TEST_CASE("replication: a replica that stops streaming or turns unhealthy drops sync too", "[replication]") {
    World w;
    SECTION("not streaming") {
        CHECK(find(w.pair.on_lag("pg-replica", ReplicaLag{}, w.t), Type::set_async));
    }
    SECTION("unhealthy") {
        CHECK(find(w.pair.on_health("pg-replica", false, w.t), Type::set_async));
    }
    CHECK_FALSE(w.pair.synchronous());
}

TEST_CASE("replication: data directory lost → fence, promote the in-sync replica, rejoin by base backup",
          "[replication]") {
    World w;
    w.pair.on_exited("pg", false, w.t);
    auto out = w.pair.on_data_dir_lost("pg", w.t);
    const ReplAction* fence = find(out, Type::fence);
    REQUIRE(fence);
    CHECK(fence->name == "pg");
    CHECK(w.pair.fenced("pg"));
    CHECK_FALSE(w.pair.may_start_as_primary("pg"));
    CHECK(w.pair.operation() == "failover to pg-replica");
    CHECK_FALSE(find(out, Type::promote));  // not before the old one is stopped

    out = w.pair.on_done(fence->id, true, "", w.t);
    const ReplAction* promote = find(out, Type::promote);
    REQUIRE(promote);
    CHECK(promote->name == "pg-replica");
    CHECK(w.pair.primary() == "pg");

    out = w.pair.on_done(promote->id, true, "", w.t);
    CHECK(w.pair.primary() == "pg-replica");
    CHECK(w.pair.takes_writes("pg-replica"));
    CHECK_FALSE(w.pair.takes_writes("pg"));
    REQUIRE(find(out, Type::routes_changed));
    REQUIRE(find(out, Type::set_async));
    CHECK(find(out, Type::set_async)->name == "pg-replica");
    const ReplAction* rejoin = find(out, Type::rejoin);
    REQUIRE(rejoin);
    CHECK(rejoin->name == "pg");
    CHECK(rejoin->peer == "pg-replica");
    CHECK(rejoin->method == RejoinMethod::base_backup);
    CHECK_FALSE(w.pair.busy());

    out = w.pair.on_running("pg", w.t);
    CHECK(logged(out, "pg rejoined as a replica of pg-replica"));
    CHECK_FALSE(w.pair.fenced("pg"));
    CHECK_FALSE(w.pair.may_start_as_primary("pg"));  // a replica now
}

TEST_CASE("replication: a surviving data directory rejoins with pg_rewind", "[replication]") {
    World w;
    for (int i = 0; i < 2; ++i) {
        w.pair.on_exited("pg", true, w.t);
        w.advance(1000ms);
    }
    auto out = w.pair.on_exited("pg", true, w.t);  // the third failed start within the window
    REQUIRE(find(out, Type::fence));
    CHECK(logged(out, "failed to start 3 times"));
    out = w.complete(out);
    const ReplAction* rejoin = find(out, Type::rejoin);
    REQUIRE(rejoin);
    CHECK(rejoin->method == RejoinMethod::rewind);
}

TEST_CASE("replication: start failures spread wider than the window do not fail over", "[replication]") {
    World w;
    for (int i = 0; i < 5; ++i) {
        CHECK_FALSE(find(w.pair.on_exited("pg", true, w.t), Type::fence));
        w.pair.on_running("pg", w.t);
        w.pair.on_health("pg", true, w.t);
        w.advance(31000ms);
    }
}

TEST_CASE("replication: unhealthy past failover_after fails over, not a moment before", "[replication]") {
    World w;
    CHECK(w.pair.on_health("pg", false, w.t).empty());
    REQUIRE(w.pair.next_deadline());
    CHECK(*w.pair.next_deadline() == w.t + 10000ms);
    w.advance(9999ms);
    CHECK_FALSE(find(w.pair.tick(w.t), Type::fence));
    w.advance(1ms);
    CHECK(find(w.pair.tick(w.t), Type::fence));
    CHECK_FALSE(w.pair.next_deadline());  // busy
}

TEST_CASE("replication: a primary that recovers in time resets the clock", "[replication]") {
    World w;
    w.pair.on_exited("pg", false, w.t);
    w.advance(5000ms);
    w.pair.on_running("pg", w.t);
    w.pair.on_health("pg", true, w.t);
    CHECK_FALSE(w.pair.next_deadline());
    w.advance(20000ms);
    CHECK(w.pair.tick(w.t).empty());
}

TEST_CASE("replication: a replica out of sync when the primary failed is not promoted automatically",
          "[replication]") {
    World w;
    w.pair.on_exited("pg-replica", false, w.t);  // async from here: the primary acknowledges alone
    w.pair.on_running("pg-replica", w.t);
    w.pair.on_health("pg-replica", true, w.t);
    w.pair.on_lag("pg-replica", streaming(8192), w.t);
    w.pair.on_exited("pg", false, w.t);
    auto out = w.pair.on_data_dir_lost("pg", w.t);
    CHECK_FALSE(find(out, Type::fence));
    CHECK(logged(out, "no replica was in sync"));
    CHECK(w.pair.on_data_dir_lost("pg", w.t).empty());  // said once
    CHECK(w.pair.primary() == "pg");

    std::string error;
    CHECK(w.pair.failover("pg-replica", false, w.t, error).empty());
    CHECK(error.find("--force") != std::string::npos);
    error.clear();
    out = w.pair.failover("pg-replica", true, w.t, error);
    CHECK(error.empty());
    REQUIRE(find(out, Type::fence));
    w.complete(out);
    CHECK(w.pair.primary() == "pg-replica");
}

TEST_CASE("replication: the in-sync replica that restarts after the primary died is still the candidate",
          "[replication]") {
    World w;
    w.pair.on_exited("pg", false, w.t);             // the moment of failure: in sync
    w.pair.on_exited("pg-replica", false, w.t);     // then the replica restarts
    w.pair.on_running("pg-replica", w.t);
    auto out = w.pair.on_data_dir_lost("pg", w.t);
    REQUIRE(find(out, Type::fence));
}

TEST_CASE("replication: a dead replica is never promoted", "[replication]") {
    World w;
    w.pair.on_exited("pg", false, w.t);
    w.pair.on_exited("pg-replica", false, w.t);
    auto out = w.pair.on_data_dir_lost("pg", w.t);
    CHECK_FALSE(find(out, Type::fence));
    CHECK(logged(out, "no replica was in sync"));
}

TEST_CASE("replication: a failed promotion leaves the old primary fenced for an operator", "[replication]") {
    World w;
    w.pair.on_exited("pg", false, w.t);
    auto out = w.pair.on_data_dir_lost("pg", w.t);
    out = w.pair.on_done(find(out, Type::fence)->id, true, "", w.t);
    out = w.pair.on_done(find(out, Type::promote)->id, false, "connection refused", w.t);
    CHECK(logged(out, "could not promote pg-replica: connection refused"));
    CHECK(w.pair.fenced("pg"));
    CHECK(w.pair.primary() == "pg");
    CHECK_FALSE(w.pair.busy());
    CHECK_FALSE(find(w.pair.tick(w.t + 1h), Type::fence));  // no loop of automatic retries
}

TEST_CASE("replication: switchover pauses writes, stops, waits for replay, promotes, rejoins", "[replication]") {
    World w;
    std::string error;
    auto out = w.pair.switchover("pg-replica", w.t, error);
    REQUIRE(error.empty());
    CHECK(w.pair.writes_paused());
    CHECK_FALSE(w.pair.takes_writes("pg"));
    REQUIRE(find(out, Type::routes_changed));
    const ReplAction* fence = find(out, Type::fence);
    REQUIRE(fence);
    const auto fence_id = fence->id;
    CHECK(w.pair.on_exited("pg", false, w.t).empty());  // the stop it asked for
    out = w.pair.on_done(fence_id, true, "", w.t);
    const ReplAction* wait = find(out, Type::wait_replayed);
    REQUIRE(wait);
    CHECK(wait->name == "pg-replica");
    CHECK(wait->peer == "pg");
    out = w.pair.on_done(wait->id, true, "", w.t);
    out = w.pair.on_done(find(out, Type::promote)->id, true, "", w.t);
    CHECK_FALSE(w.pair.writes_paused());
    CHECK(w.pair.takes_writes("pg-replica"));
    REQUIRE(find(out, Type::rejoin));
    CHECK(find(out, Type::rejoin)->method == RejoinMethod::rewind);
    w.pair.on_running("pg", w.t);
    CHECK(w.pair.serves_reads("pg") == false);  // not healthy yet
    w.pair.on_health("pg", true, w.t);
    CHECK(w.pair.serves_reads("pg"));
    // and back: the old primary, now a streaming replica, becomes the primary again
    w.pair.on_health("pg-replica", true, w.t);
    w.pair.on_lag("pg", streaming(0), w.t);
    out = w.complete(w.pair.switchover("pg", w.t, error));
    CHECK(error.empty());
    CHECK(w.pair.primary() == "pg");
}

TEST_CASE("replication: a switchover whose replay wait fails gives the primary back", "[replication]") {
    World w;
    std::string error;
    auto out = w.pair.switchover("pg-replica", w.t, error);
    out = w.pair.on_done(find(out, Type::fence)->id, true, "", w.t);
    out = w.pair.on_done(find(out, Type::wait_replayed)->id, false, "timed out", w.t);
    REQUIRE(find(out, Type::unfence));
    CHECK(find(out, Type::unfence)->name == "pg");
    CHECK_FALSE(w.pair.fenced("pg"));
    CHECK_FALSE(w.pair.writes_paused());
    CHECK(w.pair.takes_writes("pg"));
}

TEST_CASE("replication: operators' requests that make no sense are refused with a reason", "[replication]") {
    World w;
    std::string error;
    CHECK(w.pair.switchover("pg", w.t, error).empty());
    CHECK(error == "pg is the primary already");
    error.clear();
    CHECK(w.pair.failover("nope", false, w.t, error).empty());
    CHECK(error.find("not a member") != std::string::npos);
    error.clear();
    w.pair.on_lag("pg-replica", ReplicaLag{}, w.t);
    CHECK(w.pair.switchover("pg-replica", w.t, error).empty());
    CHECK(error.find("not streaming") != std::string::npos);
    error.clear();
    w.pair.on_exited("pg-replica", false, w.t);
    CHECK(w.pair.failover("pg-replica", true, w.t, error).empty());
    CHECK(error == "pg-replica is not running");
}

TEST_CASE("replication: restored state keeps a fenced member from starting as primary", "[replication]") {
    ReplicationPair pair("pg", {"r"}, PairPolicy{});
    pair.restore("r", {"pg"});
    CHECK(pair.primary() == "r");
    CHECK(pair.fenced("pg"));
    CHECK_FALSE(pair.may_start_as_primary("pg"));
    CHECK(pair.may_start_as_primary("r"));
}

TEST_CASE("replication: a member promoted by an operator is no longer fenced", "[replication]") {
    ReplicationPair pair("pg", {"r"}, PairPolicy{});
    pair.restore("r", {"pg"});
    TimePoint t{};
    pair.on_running("pg", t);
    pair.on_health("pg", true, t);
    pair.on_running("r", t);
    pair.on_health("r", true, t);
    std::string error;
    auto out = pair.failover("pg", true, t, error);
    REQUIRE(error.empty());
    out = pair.on_done(find(out, Type::fence)->id, true, "", t);
    pair.on_done(find(out, Type::promote)->id, true, "", t);
    CHECK(pair.primary() == "pg");
    CHECK_FALSE(pair.fenced("pg"));
    CHECK(pair.takes_writes("pg"));
}

// vigilctl unfence: the state an operator used to repair by editing
// <state_dir>/replication with vigild stopped.
TEST_CASE("replication: unfence makes a fenced primary whose replica is down the primary again", "[replication]") {
    World w;
    w.pair.on_exited("pg", false, w.t);
    auto out = w.pair.on_data_dir_lost("pg", w.t);
    out = w.pair.on_done(find(out, Type::fence)->id, true, "", w.t);
    w.pair.on_exited("pg-replica", false, w.t);  // the replica dies before its promotion
    out = w.pair.on_done(find(out, Type::promote)->id, false, "connection refused", w.t);
    REQUIRE(w.pair.fenced("pg"));
    REQUIRE_FALSE(w.pair.may_start_as_primary("pg"));

    std::string error;
    w.advance(1h);
    out = w.pair.unfence("pg", w.t, error);
    REQUIRE(error.empty());
    const ReplAction* u = find(out, Type::unfence);
    REQUIRE(u);
    CHECK(u->name == "pg");
    CHECK(find(out, Type::routes_changed));
    CHECK(logged(out, "pg unfenced by an operator: it is the primary again"));
    CHECK_FALSE(find(out, Type::rejoin));  // the replica is a replica of pg already
    CHECK(w.pair.primary() == "pg");
    CHECK_FALSE(w.pair.fenced("pg"));
    CHECK(w.pair.may_start_as_primary("pg"));
    CHECK_FALSE(w.pair.next_deadline());  // the outage before the operator's word starts no failover clock
    CHECK_FALSE(find(w.pair.tick(w.t + 1h), Type::fence));
    // It starts, takes writes, and the replica back in sync makes the pair synchronous again.
    out = w.pair.on_running("pg", w.t);
    REQUIRE(find(out, Type::set_async));
    w.pair.on_done(find(out, Type::set_async)->id, true, "", w.t);
    w.pair.on_health("pg", true, w.t);
    CHECK(w.pair.takes_writes("pg"));
    w.pair.on_running("pg-replica", w.t);
    w.pair.on_health("pg-replica", true, w.t);
    out = w.pair.on_lag("pg-replica", streaming(0), w.t);
    REQUIRE(find(out, Type::set_sync));
    // Unfenced once is unfenced: a second unfence is refused.
    CHECK(w.pair.unfence("pg", w.t, error).empty());
    CHECK(error == "pg is not fenced");
}

TEST_CASE("replication: unfence of a member fenced by a failover whose new primary died too", "[replication]") {
    World w;
    w.pair.on_exited("pg", false, w.t);
    auto out = w.complete(w.pair.on_data_dir_lost("pg", w.t));
    REQUIRE(w.pair.primary() == "pg-replica");
    REQUIRE(w.pair.fenced("pg"));  // until it has rejoined
    std::string error;
    CHECK(w.pair.unfence("pg", w.t, error).empty());
    CHECK(error == "pg-replica is the primary and running: pg rejoins it as a replica (vigild does that itself; see "
                   "its log if it does not)");
    error.clear();
    w.pair.on_exited("pg-replica", false, w.t);
    out = w.pair.unfence("pg", w.t, error);
    REQUIRE(error.empty());
    CHECK(w.pair.primary() == "pg");
    CHECK(logged(out, "pg unfenced by an operator: it is the primary now (was pg-replica)"));
    REQUIRE(find(out, Type::unfence));
    const ReplAction* r = find(out, Type::rejoin);
    REQUIRE(r);  // the one promoted meanwhile follows pg again, rewound onto its timeline
    CHECK(r->name == "pg-replica");
    CHECK(r->peer == "pg");
    CHECK(r->method == RejoinMethod::rewind);
    CHECK_FALSE(w.pair.fenced("pg"));
    CHECK(w.pair.may_start_as_primary("pg"));
    CHECK_FALSE(w.pair.may_start_as_primary("pg-replica"));
}

TEST_CASE("replication: unfence is refused when it makes no sense", "[replication]") {
    World w;
    std::string error;
    CHECK(w.pair.unfence("nope", w.t, error).empty());
    CHECK(error.find("not a member") != std::string::npos);
    error.clear();
    CHECK(w.pair.unfence("pg", w.t, error).empty());
    CHECK(error == "pg is not fenced");
    error.clear();
    CHECK(w.pair.unfence("pg-replica", w.t, error).empty());
    CHECK(error == "pg-replica is not fenced");
    error.clear();
    // During a switchover the old primary is fenced on purpose.
    w.pair.switchover("pg-replica", w.t, error);
    REQUIRE(error.empty());
    REQUIRE(w.pair.fenced("pg"));
    CHECK(w.pair.unfence("pg", w.t, error).empty());
    CHECK(error == "busy: switchover to pg-replica");
}

TEST_CASE("replication: unfence from restored state, nothing running", "[replication]") {
    ReplicationPair pair("pg", {"r"}, PairPolicy{});
    pair.restore("pg", {"pg"});
    std::string error;
    auto out = pair.unfence("pg", TimePoint{}, error);
    REQUIRE(error.empty());
    REQUIRE(find(out, Type::unfence));
    CHECK(pair.may_start_as_primary("pg"));
    CHECK(pair.takes_writes("pg"));
}

TEST_CASE("replication: a replica waiting in its backoff is retried the moment its primary answers",
          "[replication]") {
    ReplicationPair pair("pg", {"r", "r2"}, PairPolicy{});
    TimePoint t{};
    pair.on_done(find(pair.on_running("pg", t), Type::set_async)->id, true, "", t);
    // Its base backup failed: the primary was still initialising.
    pair.on_running("r", t);
    pair.on_exited("r", true, t);
    pair.on_running("r2", t);
    pair.on_health("r2", true, t);

    auto out = pair.on_health("pg", true, t);
    const ReplAction* a = find(out, Type::retry);
    REQUIRE(a);
    CHECK(a->name == "r");
    CHECK(a->peer == "pg");
    CHECK(a->id == 0);  // nothing answers it: the I/O side starts r only if its backoff holds it
    std::size_t retries = 0;
    for (const auto& x : out) retries += x.type == Type::retry;
    CHECK(retries == 1);  // r2 runs

    SECTION("only when the primary comes back, not at each healthy report") {
        CHECK_FALSE(find(pair.on_health("pg", true, t), Type::retry));
        pair.on_health("pg", false, t);
        CHECK(find(pair.on_health("pg", true, t), Type::retry));
    }
    SECTION("a replica's own recovery retries nothing") {
        CHECK_FALSE(find(pair.on_health("r2", true, t), Type::retry));
    }
}

TEST_CASE("replication: an old primary rejoining after a failover is retried when the new primary answers",
          "[replication]") {
    World w;
    w.pair.on_exited("pg", false, w.t);
    auto out = w.pair.on_data_dir_lost("pg", w.t);
    out = w.pair.on_done(find(out, Type::fence)->id, true, "", w.t);
    out = w.pair.on_done(find(out, Type::promote)->id, true, "", w.t);
    REQUIRE(find(out, Type::rejoin));
    REQUIRE(w.pair.primary() == "pg-replica");
    // Its base backup failed while the new primary was briefly unhealthy.
    w.pair.on_health("pg-replica", false, w.t);
    w.pair.on_exited("pg", true, w.t);
    out = w.pair.on_health("pg-replica", true, w.t);
    const ReplAction* a = find(out, Type::retry);
    REQUIRE(a);
    CHECK(a->name == "pg");
    CHECK(a->peer == "pg-replica");
}
