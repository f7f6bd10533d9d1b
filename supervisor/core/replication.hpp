// One replicated pair (a primary and its replicas: PostgreSQL streaming
// replication, Redis REPLICAOF) as a pure state machine: what vigild saw of
// its members in (running, exited, health, lag reports, a lost data
// directory, the results of earlier actions), actions out (fence, promote,
// set the synchronous standby, rejoin as a replica, move the pools). No SQL,
// no processes, no clock of its own: the I/O side
// (supervisor/replication_manager) runs the actions and reports back, and the
// unit tests script every decision on a manual clock.
//
// Decisions, as Patroni makes them with synchronous_mode (non-strict):
//
//  * Sync state. The pair is synchronous while a replica is streaming and
//    caught up (a commit is acknowledged only once it is on both servers);
//    when that replica goes away the pair drops to asynchronous at once so
//    writes go on; it is made synchronous again once a replica has caught
//    up. A replica counts as "in sync" only once the primary itself reports
//    it as its synchronous standby: not while the change is on its way.
//  * Failover triggers, on the primary: its data directory is gone or
//    unusable; it failed to start `start_failures` times within
//    `start_window`; it has been down or unhealthy for `failover_after`.
//  * Promotion choice: only the replica that was in sync when the trigger
//    fired is promoted automatically (any other would lose acknowledged
//    writes); an operator may force another (`vigilctl failover NAME --force`).
//  * Fencing: the old primary is stopped and marked fenced before the
//    replica is promoted; a fenced member is never started as a primary
//    again, only rejoined as a replica (or made primary by an operator's
//    switchover once it has rejoined).
//  * Rejoin: with pg_rewind when the old data directory survived, a fresh
//    base backup when it did not (Redis resynchronises by itself).
//  * Asynchronous-only pairs (Redis, PairPolicy::synchronous_capable =
//    false): nothing to switch on the server; "in sync" is the last poll's
//    verdict on the replica's offset and acknowledgement age, and how long
//    it has streamed since its last full resynchronisation; it decides the
//    automatic promotion the same way.
//  * Switchover (planned): writes paused in the pools, the old primary
//    stopped cleanly (its last WAL reaches the replica before it exits), the
//    replica waited for until it has replayed everything, promoted, the pools
//    moved, the old primary rejoined.
//  * Unfence (an operator's word): a fenced member is made the primary
//    again and started, when no other member serves as the primary (a
//    failover that could not take place, or one whose new primary is down
//    too); the other members rejoin it as replicas.
//
// One operation (failover, switchover) at a time; each step waits for the
// result of the action before it, by the action's id.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/core/clock.hpp"

namespace vigil::core {

struct PairPolicy {
    int start_failures = 3;            // failed starts of the primary …
    Duration start_window{60000};      // … within this window trigger a failover
    Duration failover_after{30000};    // down or unhealthy this long triggers one
    // A streaming replica this close to the primary is made the synchronous
    // standby: under a steady write load replay is never exactly level, and
    // once synchronous, commits wait the few kilobytes it still has to take.
    std::uint64_t sync_lag_bytes = 64 * 1024;
    // Redis: no setting makes a master wait for its replica (replication is
    // asynchronous), so there is no set_sync/set_async to run. A replica
    // then counts as "in sync" (the one promoted automatically) when the
    // last poll saw it streaming, at most `in_sync_bytes` behind the
    // master's offset and acknowledging within `in_sync_lag`; writes
    // acknowledged after that poll may still be lost by a failover.
    bool synchronous_capable = true;
    std::uint64_t in_sync_bytes = 16 * 1024;
    Duration in_sync_lag{1000};
    // … and streaming for this long without a full resynchronisation: after
    // one, a Redis master holds the replica's stream back until the
    // replica's first acknowledgement, which replicas send once a second
    // (the replica looks caught up meanwhile, and is not).
    Duration in_sync_after{2000};
};

enum class RejoinMethod { rewind, base_backup };
std::string_view rejoin_method_name(RejoinMethod m) noexcept;  // "pg_rewind", "base backup"

struct ReplAction {
    enum class Type {
        fence,           // stop `name`, record it fenced (never primary again without an operator)
        unfence,         // `name` is the primary again, start it (a switchover abandoned
                         // before the promotion; an operator's unfence)
        promote,         // make the replica `name` a primary
        set_sync,        // on primary `name`: `peer` is the synchronous standby
        set_async,       // on primary `name`: no synchronous standby
        wait_replayed,   // wait until replica `name` has replayed all it received from `peer`
        rejoin,          // start `name` as a replica of `peer` with `method`
        routes_changed,  // the pools' members changed (primary moved, writes paused or resumed)
        retry,           // `name` (a replica) may start now if it waits in its restart backoff:
                         // its primary `peer` answers again (its failed starts were waiting for it)
        log,             // `reason` for the log and the event stream
    };
    Type type;
    std::string name;
    std::string peer;
    RejoinMethod method = RejoinMethod::rewind;
    std::string reason;
    std::uint64_t id = 0;  // on_done() answers with it; 0 for routes_changed and log
    bool warning = false;  // log: something went wrong (else news)
};
using ReplActions = std::vector<ReplAction>;
std::string_view repl_action_name(ReplAction::Type t) noexcept;  // "promote"

// What the primary says of one replica (pg_stat_replication; Redis' INFO).
struct ReplicaLag {
    bool streaming = false;   // connected and streaming
    bool sync = false;        // the primary reports it as its synchronous standby (async-only pairs: the core's in_sync)
    std::uint64_t bytes = 0;  // WAL sent but not yet replayed
    Duration seconds{0};      // replay lag
    std::uint64_t full_syncs = 0;  // Redis: full resynchronisations the master has served (INFO stats sync_full)
};

class ReplicationPair {
public:
    ReplicationPair(std::string primary, std::vector<std::string> replicas, PairPolicy policy);

    // State kept on disk by the I/O side across vigild restarts.
    void restore(const std::string& primary, const std::set<std::string>& fenced);

    // What vigild sees of a member.
    ReplActions on_running(const std::string& name, TimePoint now);
    // Ended; `start_failure` when it died before it was up (a failed start).
    ReplActions on_exited(const std::string& name, bool start_failure, TimePoint now);
    ReplActions on_health(const std::string& name, bool healthy, TimePoint now);
    // Its data directory is missing or has no server in it.
    ReplActions on_data_dir_lost(const std::string& name, TimePoint now);
    // The primary's report on one replica (a replica missing from it: lag with streaming = false).
    ReplActions on_lag(const std::string& replica, const ReplicaLag& lag, TimePoint now);
    // An earlier action finished.
    ReplActions on_done(std::uint64_t id, bool ok, const std::string& detail, TimePoint now);
    // Deadlines (failover_after).
    ReplActions tick(TimePoint now);
    std::optional<TimePoint> next_deadline() const noexcept;

    // Operators. `error` is set and nothing returned when refused.
    ReplActions failover(const std::string& target, bool force, TimePoint now, std::string& error);
    ReplActions switchover(const std::string& target, TimePoint now, std::string& error);
    // The fenced member `name` becomes the primary again and is started.
    // Refused when it is not fenced, during an operation, or while another
    // member is the primary and running (then `name` rejoins it as a replica).
    ReplActions unfence(const std::string& name, TimePoint now, std::string& error);

    // Queries.
    const std::string& primary() const noexcept { return primary_; }
    const std::vector<std::string>& members() const noexcept { return members_; }
    bool has(const std::string& name) const noexcept { return members_state_.count(name) != 0; }
    bool is_primary(const std::string& name) const noexcept { return name == primary_; }
    bool fenced(const std::string& name) const noexcept;
    // False for a fenced member: the I/O side refuses to start it as a primary.
    bool may_start_as_primary(const std::string& name) const noexcept;
    // A replica is in sync (a synchronous standby; for an asynchronous-only
    // pair, a replica caught up at the last poll).
    bool synchronous() const noexcept { return !sync_standby_.empty() && sync_confirmed_; }
    bool asynchronous_only() const noexcept { return !policy_.synchronous_capable; }
    const std::string& sync_standby() const noexcept { return sync_standby_; }
    bool writes_paused() const noexcept { return writes_paused_; }
    bool busy() const noexcept { return op_.kind != Op::Kind::none; }
    std::string operation() const;  // "", "failover to X", "switchover to X"
    // For pools with role = primary: `name` takes writes now.
    bool takes_writes(const std::string& name) const noexcept {
        return name == primary_ && !writes_paused_ && !fenced(name);
    }
    // For pools with role = replica: a streaming replica.
    bool serves_reads(const std::string& name) const noexcept;
    const ReplicaLag* lag(const std::string& name) const noexcept;

private:
    struct Member {
        bool running = false;
        bool healthy = false;
        bool data_dir_lost = false;
        bool fenced = false;
        bool rejoining = false;
        std::optional<TimePoint> down_since;   // not running or not healthy since
        std::deque<TimePoint> start_failures;  // within the window
        ReplicaLag lag;
        bool have_lag = false;
        std::optional<TimePoint> streaming_since;  // asynchronous-only pairs: seen streaming since
    };
    struct Op {
        enum class Kind { none, failover, switchover } kind = Kind::none;
        enum class Step { fence, wait_replayed, promote, set_async, rejoin } step = Step::fence;
        std::string old_primary;
        std::string target;
        std::uint64_t waiting = 0;  // id of the action this step waits for
    };

    ReplAction make(ReplAction::Type t, std::string name, std::string peer = {}, std::string reason = {});
    void log(ReplActions& out, std::string reason, bool warning = true);
    Member& m(const std::string& name) { return members_state_.at(name); }
    const Member* find(const std::string& name) const noexcept;
    void note_down(Member& mem, TimePoint now);
    void drop_sync(ReplActions& out, const std::string& why);
    void maybe_restore_sync(ReplActions& out);
    std::string out_of_sync_reason(const ReplicaLag& lag, const Member& mem, TimePoint now) const;
    void check_triggers(ReplActions& out, TimePoint now);
    void trigger(ReplActions& out, const std::string& why, TimePoint now);
    void begin(ReplActions& out, Op::Kind kind, const std::string& target, const std::string& why);
    void step_done(ReplActions& out, bool ok, const std::string& detail, TimePoint now);
    void rejoin(ReplActions& out, const std::string& name);
    void abort(ReplActions& out, const std::string& why);

    std::string primary_;
    std::vector<std::string> members_;  // configured order: the first replica first
    std::map<std::string, Member> members_state_;
    PairPolicy policy_;
    std::string candidate_;        // the replica in sync when the primary went down
    std::string sync_standby_;     // the replica set as synchronous standby ("" when asynchronous)
    bool sync_confirmed_ = false;  // and the primary reports it so
    std::uint64_t sync_pending_ = 0;  // a set_sync / set_async on its way
    bool writes_paused_ = false;
    bool refused_logged_ = false;  // "no replica in sync" said once per outage
    Op op_;
    std::uint64_t next_id_ = 1;
};

}  // namespace vigil::core
