#include "supervisor/core/replication.hpp"

#include <algorithm>
#include <utility>

namespace vigil::core {

std::string_view rejoin_method_name(RejoinMethod m) noexcept {
    return m == RejoinMethod::rewind ? "pg_rewind" : "base backup";
}

std::string_view repl_action_name(ReplAction::Type t) noexcept {
    switch (t) {
        case ReplAction::Type::fence: return "fence";
        case ReplAction::Type::unfence: return "unfence";
        case ReplAction::Type::promote: return "promote";
        case ReplAction::Type::set_sync: return "set_sync";
        case ReplAction::Type::set_async: return "set_async";
        case ReplAction::Type::wait_replayed: return "wait_replayed";
        case ReplAction::Type::rejoin: return "rejoin";
        case ReplAction::Type::routes_changed: return "routes_changed";
        case ReplAction::Type::retry: return "retry";
        case ReplAction::Type::log: return "log";
    }
    return "?";
}

ReplicationPair::ReplicationPair(std::string primary, std::vector<std::string> replicas, PairPolicy policy)
    : primary_(std::move(primary)), policy_(policy) {
    members_.push_back(primary_);
    for (auto& r : replicas) members_.push_back(std::move(r));
    for (const auto& n : members_) members_state_[n];
}

void ReplicationPair::restore(const std::string& primary, const std::set<std::string>& fenced) {
    if (has(primary)) primary_ = primary;
    for (auto& [name, mem] : members_state_) mem.fenced = fenced.count(name) != 0;
}

const ReplicationPair::Member* ReplicationPair::find(const std::string& name) const noexcept {
    auto it = members_state_.find(name);
    return it == members_state_.end() ? nullptr : &it->second;
}

bool ReplicationPair::fenced(const std::string& name) const noexcept {
    const Member* mem = find(name);
    return mem && mem->fenced;
}

bool ReplicationPair::may_start_as_primary(const std::string& name) const noexcept {
    return name == primary_ && !fenced(name);
}

bool ReplicationPair::serves_reads(const std::string& name) const noexcept {
    const Member* mem = find(name);
    return mem && name != primary_ && !mem->fenced && !mem->rejoining && mem->running && mem->healthy;
}

const ReplicaLag* ReplicationPair::lag(const std::string& name) const noexcept {
    const Member* mem = find(name);
    return mem && mem->have_lag ? &mem->lag : nullptr;
}

std::string ReplicationPair::operation() const {
    switch (op_.kind) {
        case Op::Kind::none: return {};
        case Op::Kind::failover: return "failover to " + op_.target;
        case Op::Kind::switchover: return "switchover to " + op_.target;
    }
    return {};
}

ReplAction ReplicationPair::make(ReplAction::Type t, std::string name, std::string peer, std::string reason) {
    ReplAction a{t, std::move(name), std::move(peer), RejoinMethod::rewind, std::move(reason), 0};
    if (t != ReplAction::Type::routes_changed && t != ReplAction::Type::log && t != ReplAction::Type::retry)
        a.id = next_id_++;
    return a;
}

void ReplicationPair::log(ReplActions& out, std::string reason, bool warning) {
    out.push_back(make(ReplAction::Type::log, primary_, {}, std::move(reason)));
    out.back().warning = warning;
}

// The moment the primary stops serving is "the moment of failure": the
// replica in sync then is the one that holds every acknowledged commit.
void ReplicationPair::note_down(Member& mem, TimePoint now) {
    if (mem.down_since) return;
    mem.down_since = now;
    if (&mem == &m(primary_)) candidate_ = synchronous() ? sync_standby_ : std::string();
}

ReplActions ReplicationPair::on_running(const std::string& name, TimePoint now) {
    ReplActions out;
    if (!has(name)) return out;
    Member& mem = m(name);
    mem.running = true;
    if (mem.rejoining) {
        mem.rejoining = false;
        mem.fenced = false;
        log(out, name + " rejoined as a replica of " + primary_, false);
    }
    // The server may keep a synchronous standby from an earlier run (its
    // configuration survives restarts): say "none" until one has caught up,
    // or its commits would wait for a replica that is not there.
    if (name == primary_ && sync_standby_.empty() && !busy() && policy_.synchronous_capable) {
        auto a = make(ReplAction::Type::set_async, primary_, {}, "asynchronous until a replica has caught up");
        sync_pending_ = a.id;
        out.push_back(std::move(a));
    }
    check_triggers(out, now);
    return out;
}

ReplActions ReplicationPair::on_exited(const std::string& name, bool start_failure, TimePoint now) {
    ReplActions out;
    if (!has(name)) return out;
    Member& mem = m(name);
    mem.running = false;
    mem.healthy = false;
    mem.have_lag = false;
    mem.streaming_since.reset();
    note_down(mem, now);
    if (name == sync_standby_) drop_sync(out, name + " stopped");
    if (name == primary_ && start_failure) mem.start_failures.push_back(now);
    check_triggers(out, now);
    return out;
}

ReplActions ReplicationPair::on_health(const std::string& name, bool healthy, TimePoint now) {
    ReplActions out;
    if (!has(name)) return out;
    Member& mem = m(name);
    const bool was_healthy = mem.healthy;
    mem.healthy = healthy;
    if (!healthy) {
        note_down(mem, now);
        if (name == sync_standby_) drop_sync(out, name + " is unhealthy");
    } else if (mem.running) {
        mem.down_since.reset();
        if (name == primary_) {
            candidate_.clear();
            refused_logged_ = false;
            mem.data_dir_lost = false;
            mem.start_failures.clear();
            // A replica cannot start (base backup, streaming) while its
            // primary is down: its failed starts meanwhile only grew its
            // backoff (a fresh pair: until the primary's initdb is done).
            // A fenced member is retried only on its way back as a replica.
            if (!was_healthy)
                for (const auto& r : members_)
                    if (r != primary_ && !m(r).running && (!m(r).fenced || m(r).rejoining))
                        out.push_back(make(ReplAction::Type::retry, r, name,
                                           "its primary " + name + " answers: started now, not at the end of its backoff"));
        }
        maybe_restore_sync(out);
    }
    check_triggers(out, now);
    return out;
}

ReplActions ReplicationPair::on_data_dir_lost(const std::string& name, TimePoint now) {
    ReplActions out;
    if (!has(name)) return out;
    Member& mem = m(name);
    mem.data_dir_lost = true;
    note_down(mem, now);
    check_triggers(out, now);
    return out;
}

ReplActions ReplicationPair::on_lag(const std::string& replica, const ReplicaLag& lag, TimePoint now) {
    ReplActions out;
    if (!has(replica) || replica == primary_) return out;
    Member& mem = m(replica);
    if (!policy_.synchronous_capable) {
        // Nothing on the server says "synchronous": the core judges the poll.
        const bool resynced = mem.have_lag && lag.full_syncs != mem.lag.full_syncs;
        if (!lag.streaming || resynced) mem.streaming_since.reset();
        if (lag.streaming && !mem.streaming_since) mem.streaming_since = now;
        mem.lag = lag;
        mem.have_lag = true;
        const std::string why = out_of_sync_reason(lag, mem, now);
        mem.lag.sync = why.empty();
        if (replica == sync_standby_ && !mem.lag.sync) drop_sync(out, replica + " " + why);
        maybe_restore_sync(out);
        return out;
    }
    mem.lag = lag;
    mem.have_lag = true;
    if (replica == sync_standby_) {
        if (!lag.streaming) {
            drop_sync(out, replica + " is not streaming");
        } else if (lag.sync && !sync_confirmed_) {
            sync_confirmed_ = true;
            log(out, "synchronous replication to " + replica + ": a commit is acknowledged once it is on both", false);
        }
    }
    maybe_restore_sync(out);
    return out;
}

// Patroni's non-strict synchronous_mode: writes must go on without the
// replica, so the primary stops waiting for it the moment it is seen gone.
void ReplicationPair::drop_sync(ReplActions& out, const std::string& why) {
    if (sync_standby_.empty()) return;
    sync_standby_.clear();
    sync_confirmed_ = false;
    // A primary still running could acknowledge writes the replica misses
    // from here on: the replica no longer holds every acknowledged commit.
    if (m(primary_).running) candidate_.clear();
    if (!policy_.synchronous_capable) {
        log(out, "replication is asynchronous and " + why + ": not promoted automatically until it has caught up",
            false);
        return;
    }
    auto a = make(ReplAction::Type::set_async, primary_, {}, "asynchronous replication: " + why);
    sync_pending_ = a.id;
    out.push_back(std::move(a));
}

void ReplicationPair::maybe_restore_sync(ReplActions& out) {
    if (!sync_standby_.empty() || sync_pending_ != 0 || busy()) return;
    const Member& p = m(primary_);
    if (!p.running || !p.healthy || p.fenced) return;
    for (const auto& name : members_) {
        if (name == primary_) continue;
        const Member& r = m(name);
        if (!r.running || !r.healthy || r.rejoining || !r.have_lag || !r.lag.streaming) continue;
        if (!policy_.synchronous_capable) {
            if (!r.lag.sync) continue;
            sync_standby_ = name;
            sync_confirmed_ = true;
            log(out, name + " is in sync with " + primary_ + " (asynchronous replication: at most " +
                         std::to_string(policy_.in_sync_bytes) + " bytes behind at the last poll): it may be " +
                         "promoted automatically", false);
            return;
        }
        if (r.lag.bytes > policy_.sync_lag_bytes) continue;
        sync_standby_ = name;
        sync_confirmed_ = false;
        auto a = make(ReplAction::Type::set_sync, primary_, name, name + " has caught up: synchronous replication");
        sync_pending_ = a.id;
        out.push_back(std::move(a));
        return;
    }
}

// "" when in sync (asynchronous-only pairs), else why not.
std::string ReplicationPair::out_of_sync_reason(const ReplicaLag& lag, const Member& mem, TimePoint now) const {
    if (!lag.streaming || !mem.streaming_since) return "is not streaming";
    if (lag.bytes > policy_.in_sync_bytes) return "is " + std::to_string(lag.bytes) + " bytes behind";
    if (lag.seconds > policy_.in_sync_lag) return "last acknowledged " + std::to_string(lag.seconds.count()) + " ms ago";
    if (now - *mem.streaming_since < policy_.in_sync_after)
        return "has streamed for " + std::to_string(std::chrono::duration_cast<Duration>(now - *mem.streaming_since).count()) +
               " ms since its last full resynchronisation";
    return {};
}

void ReplicationPair::check_triggers(ReplActions& out, TimePoint now) {
    if (busy()) return;
    Member& p = m(primary_);
    if (p.fenced) return;
    while (!p.start_failures.empty() && now - p.start_failures.front() > policy_.start_window)
        p.start_failures.pop_front();
    if (p.data_dir_lost) return trigger(out, "its data directory is gone", now);
    if (static_cast<int>(p.start_failures.size()) >= policy_.start_failures)
        return trigger(out, "it failed to start " + std::to_string(p.start_failures.size()) + " times within " +
                                std::to_string(policy_.start_window.count() / 1000) + " s",
                       now);
    if (p.down_since && now - *p.down_since >= policy_.failover_after)
        return trigger(out, "it has been down or unhealthy for " +
                                std::to_string(policy_.failover_after.count()) + " ms (failover_after)",
                       now);
}

void ReplicationPair::trigger(ReplActions& out, const std::string& why, TimePoint now) {
    (void)now;
    const Member* c = candidate_.empty() ? nullptr : find(candidate_);
    if (!c || !c->running || c->fenced) {
        if (refused_logged_) return;
        refused_logged_ = true;
        log(out, "primary " + primary_ + " has failed (" + why + "), but no replica was in sync with it: " +
                     "not promoting one automatically, that could lose acknowledged writes (an operator can: " +
                     "vigilctl failover NAME --force)");
        return;
    }
    begin(out, Op::Kind::failover, candidate_, "primary " + primary_ + " has failed: " + why);
}

void ReplicationPair::begin(ReplActions& out, Op::Kind kind, const std::string& target, const std::string& why) {
    op_ = Op{kind, Op::Step::fence, primary_, target, 0};
    log(out, operation() + ": " + why);
    if (kind == Op::Kind::switchover) {
        writes_paused_ = true;
        out.push_back(make(ReplAction::Type::routes_changed, primary_, {}, "writes paused for the switchover"));
    }
    m(primary_).fenced = true;
    auto a = make(ReplAction::Type::fence, primary_, target,
                  kind == Op::Kind::switchover ? "stopping it cleanly for the switchover"
                                               : "fenced: it is not started as a primary again");
    op_.waiting = a.id;
    out.push_back(std::move(a));
}

ReplActions ReplicationPair::on_done(std::uint64_t id, bool ok, const std::string& detail, TimePoint now) {
    ReplActions out;
    if (id == 0) return out;
    if (id == sync_pending_) {
        sync_pending_ = 0;
        if (!ok) {
            if (!sync_standby_.empty()) {
                log(out, "could not make " + sync_standby_ + " the synchronous standby: " + detail);
                sync_standby_.clear();
                sync_confirmed_ = false;
            } else {
                log(out, "could not switch " + primary_ + " to asynchronous replication: " + detail);
            }
        }
        maybe_restore_sync(out);
    }
    if (id == op_.waiting && busy()) step_done(out, ok, detail, now);
    return out;
}

void ReplicationPair::abort(ReplActions& out, const std::string& why) {
    const bool switchover = op_.kind == Op::Kind::switchover;
    const std::string old = op_.old_primary;
    log(out, operation() + " failed: " + why);
    op_ = Op{};
    if (switchover) {
        // Nothing was promoted: the old primary is still the one with every write.
        m(old).fenced = false;
        writes_paused_ = false;
        out.push_back(make(ReplAction::Type::unfence, old, {}, "switchover abandoned: starting it again as primary"));
        out.push_back(make(ReplAction::Type::routes_changed, old, {}, "writes resumed"));
    } else {
        log(out, old + " stays fenced: an operator must decide (vigilctl failover NAME --force, or switchover)");
    }
}

void ReplicationPair::step_done(ReplActions& out, bool ok, const std::string& detail, TimePoint now) {
    (void)now;
    op_.waiting = 0;
    switch (op_.step) {
        case Op::Step::fence:
            if (!ok) return abort(out, "could not stop " + op_.old_primary + ": " + detail);
            if (op_.kind == Op::Kind::switchover) {
                op_.step = Op::Step::wait_replayed;
                auto a = make(ReplAction::Type::wait_replayed, op_.target, op_.old_primary,
                              "waiting for it to apply the last of " + op_.old_primary +
                                  (policy_.synchronous_capable ? "'s WAL" : "'s replication stream"));
                op_.waiting = a.id;
                out.push_back(std::move(a));
                return;
            }
            [[fallthrough]];
        case Op::Step::wait_replayed: {
            if (!ok) return abort(out, op_.target + " did not replay everything: " + detail);
            op_.step = Op::Step::promote;
            auto a = make(ReplAction::Type::promote, op_.target, op_.old_primary, "promoting it to primary");
            op_.waiting = a.id;
            out.push_back(std::move(a));
            return;
        }
        case Op::Step::promote: {
            if (!ok) return abort(out, "could not promote " + op_.target + ": " + detail);
            const std::string old = op_.old_primary;
            primary_ = op_.target;
            op_ = Op{};
            candidate_.clear();
            refused_logged_ = false;
            sync_standby_.clear();
            sync_confirmed_ = false;
            writes_paused_ = false;
            Member& np = m(primary_);
            np.fenced = false;  // an operator's switchover to a member fenced earlier is that operator's word
            np.down_since.reset();
            np.have_lag = false;
            np.start_failures.clear();
            // A base backup copies the old primary's synchronous standby
            // setting: the new primary would wait for a standby named after itself.
            if (policy_.synchronous_capable) {
                auto a = make(ReplAction::Type::set_async, primary_, {},
                              "new primary: asynchronous until a replica has caught up");
                sync_pending_ = a.id;
                out.push_back(std::move(a));
            }
            out.push_back(make(ReplAction::Type::routes_changed, primary_, old, primary_ + " is the primary now"));
            log(out, primary_ + " is the primary now (was " + old + ")", false);
            for (const auto& name : members_)
                if (name != primary_) rejoin(out, name);
            return;
        }
        case Op::Step::set_async:
        case Op::Step::rejoin:
            return;
    }
}

void ReplicationPair::rejoin(ReplActions& out, const std::string& name) {
    Member& mem = m(name);
    const RejoinMethod method = mem.data_dir_lost ? RejoinMethod::base_backup : RejoinMethod::rewind;
    mem.rejoining = true;
    mem.data_dir_lost = false;
    mem.down_since.reset();
    mem.start_failures.clear();
    mem.have_lag = false;
    mem.streaming_since.reset();
    // Redis chooses a partial or a full resynchronisation itself.
    const std::string how = policy_.synchronous_capable ? std::string(rejoin_method_name(method)) : "REPLICAOF";
    auto a = make(ReplAction::Type::rejoin, name, primary_, "rejoining as a replica of " + primary_ + " (" + how + ")");
    a.method = method;
    out.push_back(std::move(a));
}

ReplActions ReplicationPair::tick(TimePoint now) {
    ReplActions out;
    check_triggers(out, now);
    return out;
}

std::optional<TimePoint> ReplicationPair::next_deadline() const noexcept {
    if (busy()) return std::nullopt;
    const Member* p = find(primary_);
    if (!p || p->fenced || !p->down_since) return std::nullopt;
    return *p->down_since + policy_.failover_after;
}

ReplActions ReplicationPair::failover(const std::string& target, bool force, TimePoint now, std::string& error) {
    (void)now;
    ReplActions out;
    const Member* t = find(target);
    if (!t) error = target + " is not a member of " + primary_ + "'s replicated pair";
    else if (target == primary_) error = target + " is the primary already";
    else if (busy()) error = "busy: " + operation();
    else if (!t->running) error = target + " is not running";
    else if (!force && target != candidate_ && !(synchronous() && sync_standby_ == target))
        error = target + " is not in sync with " + primary_ +
                ": promoting it could lose acknowledged writes (add --force to promote it anyway)";
    if (!error.empty()) return out;
    begin(out, Op::Kind::failover, target,
          std::string("operator's request") + (force ? " (forced)" : ""));
    return out;
}

ReplActions ReplicationPair::switchover(const std::string& target, TimePoint now, std::string& error) {
    (void)now;
    ReplActions out;
    const Member* t = find(target);
    const Member& p = m(primary_);
    if (!t) error = target + " is not a member of " + primary_ + "'s replicated pair";
    else if (target == primary_) error = target + " is the primary already";
    else if (busy()) error = "busy: " + operation();
    else if (!p.running || !p.healthy) error = "the primary " + primary_ + " is not running and healthy: use failover";
    else if (!t->running || !t->healthy || t->rejoining) error = target + " is not running and healthy";
    else if (!t->have_lag || !t->lag.streaming) error = target + " is not streaming from " + primary_;
    // Redis: the old master's clean stop waits only so long (shutdown-timeout)
    // for a replica to catch up, and vigild cannot tell afterwards whether it did.
    else if (!policy_.synchronous_capable && !t->lag.sync)
        error = target + " is not in sync with " + primary_ + " (asynchronous replication): try again once it is";
    if (!error.empty()) return out;
    begin(out, Op::Kind::switchover, target, "operator's request");
    return out;
}

// The operator takes on what vigild would not: `name` may lack writes a
// promoted member acknowledged while it was fenced. Only refused where it
// would make two primaries or collide with an operation under way.
ReplActions ReplicationPair::unfence(const std::string& name, TimePoint now, std::string& error) {
    (void)now;
    ReplActions out;
    Member* mem = members_state_.count(name) ? &m(name) : nullptr;
    if (!mem) error = name + " is not a member of " + primary_ + "'s replicated pair";
    else if (!mem->fenced) error = name + " is not fenced";
    else if (busy()) error = "busy: " + operation();
    else if (name != primary_ && m(primary_).running)
        error = primary_ + " is the primary and running: " + name +
                " rejoins it as a replica (vigild does that itself; see its log if it does not)";
    if (!error.empty()) return out;
    const std::string old = primary_;
    primary_ = name;
    mem->fenced = false;
    mem->rejoining = false;
    mem->data_dir_lost = false;  // seen again at its next exit, if still so
    mem->down_since.reset();
    mem->start_failures.clear();
    mem->have_lag = false;
    candidate_.clear();
    refused_logged_ = false;
    sync_standby_.clear();
    sync_confirmed_ = false;
    sync_pending_ = 0;  // an answer about the server that went down is no news about this one
    writes_paused_ = false;
    log(out, name + " unfenced by an operator: it is the primary " + (old == name ? "again" : "now (was " + old + ")"),
        false);
    out.push_back(make(ReplAction::Type::unfence, name, {}, "unfenced by an operator: starting it as the primary"));
    out.push_back(make(ReplAction::Type::routes_changed, name, old, name + " is the primary"));
    if (old != name)
        for (const auto& other : members_)
            if (other != name) rejoin(out, other);
    return out;
}

}  // namespace vigil::core
