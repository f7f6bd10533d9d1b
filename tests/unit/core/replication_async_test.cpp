// An asynchronous-only pair (Redis: PairPolicy::synchronous_capable = false)
// on the manual clock: no set_sync/set_async to run, "in sync" judged by the
// core from each poll (streaming, bytes behind, acknowledgement age), and
// that verdict deciding the automatic promotion as for PostgreSQL.
#include <catch2/catch.hpp>

#include "replication_helpers.hpp"

using namespace std::chrono_literals;
using vigil::core::PairPolicy;
using vigil::core::ReplAction;
using vigil::core::ReplActions;
using vigil::core::ReplicaLag;
using vigil::core::ReplicationPair;
using vigil::core::TimePoint;
using repltest::Type;

namespace {

using repltest::find;
using repltest::logged;

ReplicaLag polled(std::uint64_t bytes, std::chrono::milliseconds acked = 0ms, bool streaming = true) {
    return ReplicaLag{streaming, false, bytes, acked};
}

PairPolicy redis_policy() {
    PairPolicy p{3, 60000ms, 5000ms};
    p.synchronous_capable = false;
    return p;
}

// Both up and healthy, the replica seen caught up and streaming for 2 s.
struct Redis {
    TimePoint t{std::chrono::hours(1)};
    ReplicationPair pair{"cache", {"cache-r"}, redis_policy()};

    Redis() {
        auto out = pair.on_running("cache", t);
        CHECK_FALSE(find(out, Type::set_async));  // nothing to switch on a Redis master
        pair.on_health("cache", true, t);
        pair.on_running("cache-r", t);
        pair.on_health("cache-r", true, t);
        out = pair.on_lag("cache-r", polled(0), t);
        CHECK(out.empty());  // caught up, but Redis may still hold its stream back
        CHECK_FALSE(pair.synchronous());
        t += 1500ms;
        CHECK(pair.on_lag("cache-r", polled(0), t).empty());
        t += 500ms;
        out = pair.on_lag("cache-r", polled(0), t);
        CHECK_FALSE(find(out, Type::set_sync));
        CHECK(logged(out, "cache-r is in sync with cache (asynchronous replication"));
        REQUIRE(pair.synchronous());
        REQUIRE(pair.lag("cache-r"));
        CHECK(pair.lag("cache-r")->sync);
    }
    // Answers every action but rejoins with success, as the manager would.
    ReplActions complete(ReplActions out) {
        ReplActions all = out;
        for (std::size_t i = 0; i < all.size(); ++i) {
            const ReplAction a = all[i];
            if (a.id == 0 || a.type == Type::rejoin) continue;
            auto more = pair.on_done(a.id, true, "", t);
            all.insert(all.end(), more.begin(), more.end());
        }
        return all;
    }
};

}  // namespace

TEST_CASE("replication async: in sync is the poll's verdict, said once each way", "[replication][async]") {
    Redis w;
    // Caught up again: nothing new to say.
    auto out = w.pair.on_lag("cache-r", polled(100, 1000ms), w.t);
    CHECK(out.empty());
    CHECK(w.pair.synchronous());
    // Too far behind at a poll: out of sync, no server action.
    out = w.pair.on_lag("cache-r", polled(16 * 1024 + 1), w.t);
    CHECK(logged(out, "cache-r is 16385 bytes behind: not promoted automatically until it has caught up"));
    CHECK_FALSE(find(out, Type::set_async));
    CHECK_FALSE(w.pair.synchronous());
    CHECK_FALSE(w.pair.lag("cache-r")->sync);
    out = w.pair.on_lag("cache-r", polled(0), w.t);
    CHECK(logged(out, "cache-r is in sync with cache"));
    CHECK(w.pair.synchronous());
    // Not acknowledging for more than a second: out of sync too.
    out = w.pair.on_lag("cache-r", polled(0, 2000ms), w.t);
    CHECK(logged(out, "cache-r last acknowledged 2000 ms ago"));
    CHECK_FALSE(w.pair.synchronous());
    w.pair.on_lag("cache-r", polled(0), w.t);
    out = w.pair.on_lag("cache-r", polled(0, 0ms, false), w.t);
    CHECK(logged(out, "cache-r is not streaming"));
    CHECK_FALSE(w.pair.synchronous());
    // Streaming again: in sync only after 2 s of it.
    CHECK(w.pair.on_lag("cache-r", polled(0), w.t).empty());
    w.t += 1999ms;
    CHECK(w.pair.on_lag("cache-r", polled(0), w.t).empty());
    w.t += 1ms;
    CHECK(logged(w.pair.on_lag("cache-r", polled(0), w.t), "cache-r is in sync with cache"));
}

TEST_CASE("replication async: a full resynchronisation between two polls restarts the in-sync clock",
          "[replication][async]") {
    // Redis holds a freshly synchronised replica's stream until its first
    // once-a-second acknowledgement: caught up at a poll, it may miss every
    // write until then.
    Redis w;
    ReplicaLag resynced = polled(0);
    resynced.full_syncs = 1;
    auto out = w.pair.on_lag("cache-r", resynced, w.t);
    CHECK(logged(out, "cache-r has streamed for 0 ms since its last full resynchronisation"));
    CHECK_FALSE(w.pair.synchronous());
    // The master dies now: no automatic promotion.
    w.pair.on_exited("cache", false, w.t);
    out = w.pair.on_data_dir_lost("cache", w.t);
    CHECK_FALSE(find(out, Type::fence));
    CHECK(logged(out, "no replica was in sync with it"));
}

TEST_CASE("replication async: a replica seen for the first time is in sync only after 2 s of streaming",
          "[replication][async]") {
    TimePoint t{std::chrono::hours(1)};
    ReplicationPair pair{"cache", {"cache-r"}, redis_policy()};
    pair.on_running("cache", t);
    pair.on_health("cache", true, t);
    pair.on_running("cache-r", t);
    pair.on_health("cache-r", true, t);
    pair.on_lag("cache-r", polled(0), t);
    t += 500ms;
    pair.on_lag("cache-r", polled(0), t);
    pair.on_exited("cache", false, t);
    auto out = pair.on_data_dir_lost("cache", t);
    CHECK_FALSE(find(out, Type::fence));
    CHECK(logged(out, "no replica was in sync with it"));
}

TEST_CASE("replication async: the master's data lost while the replica was in sync: fence, promote, rejoin",
          "[replication][async]") {
    Redis w;
    auto out = w.pair.on_exited("cache", false, w.t);
    CHECK_FALSE(find(out, Type::fence));  // a crash alone is a restart, not a failover
    out = w.pair.on_data_dir_lost("cache", w.t);
    const ReplAction* fence = find(out, Type::fence);
    REQUIRE(fence);
    CHECK(fence->name == "cache");
    CHECK(w.pair.fenced("cache"));
    CHECK_FALSE(w.pair.may_start_as_primary("cache"));
    auto all = w.complete(out);
    const ReplAction* promote = find(all, Type::promote);
    REQUIRE(promote);
    CHECK(promote->name == "cache-r");
    CHECK_FALSE(find(all, Type::set_async));  // no setting to clear on a Redis master
    CHECK(find(all, Type::routes_changed));
    const ReplAction* rejoin = find(all, Type::rejoin);
    REQUIRE(rejoin);
    CHECK(rejoin->name == "cache");
    CHECK(rejoin->peer == "cache-r");
    CHECK(rejoin->reason == "rejoining as a replica of cache-r (REPLICAOF)");
    CHECK(w.pair.primary() == "cache-r");
    CHECK(w.pair.takes_writes("cache-r"));
    CHECK_FALSE(w.pair.takes_writes("cache"));
    // The old master back as a replica, caught up: in sync with the new one.
    w.pair.on_running("cache", w.t);
    w.pair.on_health("cache", true, w.t);
    w.pair.on_health("cache-r", true, w.t);
    CHECK(w.pair.on_lag("cache", polled(0), w.t).empty());  // a full resynchronisation just ended
    w.t += 2000ms;
    out = w.pair.on_lag("cache", polled(0), w.t);
    CHECK(logged(out, "cache is in sync with cache-r"));
    CHECK_FALSE(w.pair.fenced("cache"));
}

TEST_CASE("replication async: a replica behind when the master failed is not promoted without --force",
          "[replication][async]") {
    Redis w;
    w.pair.on_lag("cache-r", polled(1 << 20), w.t);
    REQUIRE_FALSE(w.pair.synchronous());
    auto out = w.pair.on_exited("cache", false, w.t);
    out = w.pair.on_data_dir_lost("cache", w.t);
    CHECK_FALSE(find(out, Type::fence));
    CHECK(logged(out, "no replica was in sync with it"));
    std::string error;
    out = w.pair.failover("cache-r", false, w.t, error);
    CHECK(error.find("is not in sync with cache") != std::string::npos);
    CHECK(out.empty());
    error.clear();
    out = w.pair.failover("cache-r", true, w.t, error);
    CHECK(error.empty());
    REQUIRE(find(out, Type::fence));
    auto all = w.complete(out);
    CHECK(find(all, Type::promote));
    CHECK(w.pair.primary() == "cache-r");
}

TEST_CASE("replication async: failover_after counts for a Redis master down or unhealthy", "[replication][async]") {
    Redis w;
    auto out = w.pair.on_health("cache", false, w.t);
    CHECK_FALSE(find(out, Type::fence));
    REQUIRE(w.pair.next_deadline());
    CHECK(*w.pair.next_deadline() == w.t + 5000ms);
    w.t += 5000ms;
    out = w.pair.tick(w.t);
    REQUIRE(find(out, Type::fence));
    CHECK(logged(out, "failover_after"));
}

TEST_CASE("replication async: switchover waits for the replica's offset before REPLICAOF NO ONE",
          "[replication][async]") {
    Redis w;
    std::string error;
    auto out = w.pair.switchover("cache-r", w.t, error);
    REQUIRE(error.empty());
    CHECK(w.pair.writes_paused());
    const ReplAction* fence = find(out, Type::fence);
    REQUIRE(fence);
    out = w.pair.on_done(fence->id, true, "", w.t);
    const ReplAction* wait = find(out, Type::wait_replayed);
    REQUIRE(wait);
    CHECK(wait->name == "cache-r");
    CHECK(wait->peer == "cache");
    CHECK(wait->reason == "waiting for it to apply the last of cache's replication stream");
    out = w.pair.on_done(wait->id, true, "", w.t);
    const ReplAction* promote = find(out, Type::promote);
    REQUIRE(promote);
    out = w.pair.on_done(promote->id, true, "", w.t);
    CHECK_FALSE(find(out, Type::set_async));
    CHECK(find(out, Type::rejoin));
    CHECK(w.pair.primary() == "cache-r");
    CHECK_FALSE(w.pair.writes_paused());
}

TEST_CASE("replication async: no switchover to a replica that is not in sync", "[replication][async]") {
    Redis w;
    w.pair.on_lag("cache-r", polled(1 << 20), w.t);
    std::string error;
    auto out = w.pair.switchover("cache-r", w.t, error);
    CHECK(out.empty());
    CHECK(error == "cache-r is not in sync with cache (asynchronous replication): try again once it is");
    CHECK_FALSE(w.pair.writes_paused());
}

TEST_CASE("replication async: a switchover whose replica does not catch up starts the old master again",
          "[replication][async]") {
    Redis w;
    std::string error;
    auto out = w.pair.switchover("cache-r", w.t, error);
    out = w.pair.on_done(find(out, Type::fence)->id, true, "", w.t);
    out = w.pair.on_done(find(out, Type::wait_replayed)->id, false, "offset 10 of 20 within 10 s", w.t);
    const ReplAction* unfence = find(out, Type::unfence);
    REQUIRE(unfence);
    CHECK(unfence->name == "cache");
    CHECK(w.pair.primary() == "cache");
    CHECK_FALSE(w.pair.writes_paused());
    CHECK(logged(out, "offset 10 of 20"));
}
