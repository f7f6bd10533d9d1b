// Rolling restarts (`vigilctl restart --rolling GROUP`): which instance is
// next, and what each event means for the one whose turn it is. One at a
// time, each instance goes
//
//   holding       pushed "draining" to every pool it serves in (a hold: its
//                 own state and health changes are not pushed meanwhile, so
//                 vigild's health checks cannot put it back "up" mid-drain)
//   draining      its requests in flight counted every kDrainPoll until 0 or
//                 the drain timeout (then it is stopped anyway)
//   restarting    restart sent; until RUNNING with a new pid
//   healthy_wait  until its healthcheck passes (skipped without one)
//   returning     released: pushed what this view says ("up"), then the next
//
// bounded by the roll's timeout from the restart on. An instance that fails
// (FATAL, EXITED, the timeout) stops the roll: it is released to what its
// own health says (failing), the rest are left untouched. A hold the proxy
// does not take restarts the instance without a drain; a release it does
// not take is sent again by the pools' reconcile. Instances outside every
// pool, or with no proxy running, are restarted and waited on the same way
// without the drain.
#include <algorithm>

#include "supervisor/core/duration_text.hpp"
#include "supervisor/core/process_set.hpp"

namespace vigil::core {
namespace {

bool ok_status(int status) { return status >= 200 && status < 300; }

}  // namespace

bool ProcessSet::rolling(const std::string& name) const noexcept {
    for (const auto& [_, r] : rolls_)
        if (std::find(r.names.begin(), r.names.end(), name) != r.names.end()) return true;
    return false;
}

Commands ProcessSet::roll(std::uint64_t id, const std::vector<std::string>& names, const RollOptions& options,
                          TimePoint now) noexcept {
    Commands out;
    Roll& r = rolls_[id];
    r.id = id;
    r.names = names;
    r.options = options;
    r.began = r.turn_began = now;
    Command c{Command::Type::roll_step};
    c.id = id;
    c.step = RollStep::start;
    c.names = names;
    c.reason = join_names(names);
    out.push_back(std::move(c));
    roll_next(id, now, out);
    return out;
}

void ProcessSet::roll_step(Roll& r, RollStep step, std::string message, TimePoint now, Commands& out) noexcept {
    Command c{Command::Type::roll_step};
    c.id = r.id;
    c.name = r.current;
    c.step = step;
    c.reason = std::move(message);
    c.elapsed = std::chrono::duration_cast<Duration>(now - r.turn_began);
    out.push_back(std::move(c));
}

void ProcessSet::roll_next(std::uint64_t id, TimePoint now, Commands& out) noexcept {
    auto it = rolls_.find(id);
    if (it == rolls_.end()) return;
    Roll& r = it->second;
    r.poll_at.reset();
    for (;;) {
        if (r.next == r.names.size()) {
            r.current.clear();
            return roll_finish(id, true, std::to_string(r.restarted.size()) + " restarted", now, out);
        }
        r.current = r.names[r.next++];
        r.turn_began = now;
        if (shutting_down_) return roll_fail(id, "vigild is shutting down", now, out);
        auto p = procs_.find(r.current);
        if (p == procs_.end() || p->second.removed) {
            roll_step(r, RollStep::skipped, "no longer in the config", now, out);
            continue;
        }
        if (stopped_by_hand(r.current)) {
            roll_step(r, RollStep::skipped, "stopped by hand, left alone", now, out);
            continue;
        }
        if (!proxy_up() || pools_of(r.current).empty()) return roll_restart(id, now, out);
        r.phase = Roll::Phase::holding;
        return roll_push(id, true, now, out);
    }
}

void ProcessSet::roll_push(std::uint64_t id, bool hold, TimePoint now, Commands& out) noexcept {
    Roll& r = rolls_.at(id);
    r.ticket = next_ticket_++;
    r.worst = 200;
    r.detail.clear();
    if (hold) member_hold_[r.current] = proxy::ServerMode::draining;
    else member_hold_.erase(r.current);
    const std::size_t before = out.size();
    if (proxy_up())
        for (const auto& pool : pools_of(r.current)) push(pool, r.current, member_mode(pool, r.current), r.ticket, out);
    r.answers_left = out.size() - before;
    if (r.answers_left > 0) return;  // member_ack counts them down
    if (!pools_of(r.current).empty()) {
        r.worst = 0;
        r.detail = "proxy is down";
    }
    roll_answered(id, now, out);
}

// Every pool answered the hold or release of the current instance.
void ProcessSet::roll_answered(std::uint64_t id, TimePoint now, Commands& out) noexcept {
    Roll& r = rolls_.at(id);
    const bool ok = ok_status(r.worst);
    switch (r.phase) {
        case Roll::Phase::holding: {
            if (!ok) {
                roll_step(r, RollStep::draining,
                          "vigil-proxy did not take it (" + r.detail + "); restarting without a drain", now, out);
                return roll_restart(id, now, out);
            }
            const Duration timeout = r.options.drain_timeout.value_or(procs_[r.current].stopwaitsecs);
            roll_step(r, RollStep::draining,
                      "out of pool " + join_names(pools_of(r.current)) + ", waiting up to " + duration_text(timeout) +
                          " for its active requests",
                      now, out);
            r.phase = Roll::Phase::draining;
            r.deadline = now + timeout;
            // The proxy applies a change on its workers just after answering:
            // the first count is taken a poll interval later.
            r.poll_at = now + kDrainPoll;
            return;
        }
        case Roll::Phase::returning:
            roll_step(r, RollStep::up,
                      ok ? "back in pool " + join_names(pools_of(r.current))
                         : "vigil-proxy was not told (" + r.detail + "); its next resync will",
                      now, out);
            return roll_next(id, now, out);
        case Roll::Phase::failing: return roll_finish(id, false, r.summary, now, out);
        default: return;
    }
}

Commands ProcessSet::active_count(std::uint64_t id, std::uint64_t ticket, std::optional<long> active,
                                  TimePoint now) noexcept {
    Commands out;
    auto it = rolls_.find(id);
    if (it == rolls_.end() || it->second.phase != Roll::Phase::draining || it->second.ticket != ticket) return out;
    Roll& r = it->second;
    if (active && *active == 0) {
        roll_step(r, RollStep::drained, "no active requests", now, out);
        roll_restart(id, now, out);
    } else if (now >= r.deadline) {
        roll_step(r, RollStep::drain_timeout,
                  active ? std::to_string(*active) + " requests still active; stopping it anyway"
                         : "vigil-proxy does not answer; stopping it anyway",
                  now, out);
        roll_restart(id, now, out);
    } else {
        r.poll_at = now + kDrainPoll;
    }
    return out;
}

void ProcessSet::roll_restart(std::uint64_t id, TimePoint now, Commands& out) noexcept {
    Roll& r = rolls_.at(id);
    r.poll_at.reset();
    if (shutting_down_) return roll_fail(id, "vigild is shutting down", now, out);
    auto p = procs_.find(r.current);
    if (p == procs_.end() || p->second.removed) return roll_fail(id, "no longer in the config", now, out);
    r.phase = Roll::Phase::restarting;
    r.old_pid = p->second.pid;
    r.deadline = now + r.options.timeout;
    for (auto& c : restart(r.current, now)) out.push_back(std::move(c));
}

// A decision (`c`) or a health change (null) of `name`: the turn of some roll?
void ProcessSet::check_rolls(const std::string& name, const Change* c, TimePoint now, Commands& out) noexcept {
    auto it = std::find_if(rolls_.begin(), rolls_.end(), [&](const auto& kv) {
        return kv.second.current == name &&
               (kv.second.phase == Roll::Phase::restarting || kv.second.phase == Roll::Phase::healthy_wait);
    });
    if (it == rolls_.end()) return;
    const std::uint64_t id = it->first;
    Roll& r = it->second;
    const Proc& p = procs_.at(name);
    if (!c) {
        if (r.phase == Roll::Phase::healthy_wait && p.health == HealthStatus::healthy && p.pid > 0 &&
            p.pid != r.old_pid && p.state == State::running)
            roll_healthy(id, now, out);
        return;
    }
    if (c->from == State::stopping && c->to != State::stopping && r.phase == Roll::Phase::restarting)
        roll_step(r, RollStep::stopped, std::string(c->last_exit.empty() ? c->reason : c->last_exit), now, out);
    if (c->to == State::fatal)
        return roll_fail(id, "gave up: " + std::string(c->spawn_error.empty() ? c->reason : c->spawn_error), now, out);
    if (c->to == State::exited && c->from != c->to) return roll_fail(id, "exited: " + std::string(c->reason), now, out);
    if (c->to == State::running && r.phase == Roll::Phase::restarting && c->pid > 0 && c->pid != r.old_pid) {
        roll_step(r, RollStep::started, "pid " + std::to_string(c->pid), now, out);
        if (!p.has_healthcheck) return roll_healthy(id, now, out);
        r.phase = Roll::Phase::healthy_wait;
        if (p.health == HealthStatus::healthy) roll_healthy(id, now, out);
    }
}

void ProcessSet::roll_healthy(std::uint64_t id, TimePoint now, Commands& out) noexcept {
    Roll& r = rolls_.at(id);
    const Proc& p = procs_.at(r.current);
    if (p.has_healthcheck) roll_step(r, RollStep::healthy, p.health_target, now, out);
    r.restarted.push_back(r.current);
    if (!held_member(r.current)) return roll_next(id, now, out);
    r.phase = Roll::Phase::returning;
    roll_push(id, false, now, out);
}

void ProcessSet::roll_fail(std::uint64_t id, const std::string& message, TimePoint now, Commands& out) noexcept {
    Roll& r = rolls_.at(id);
    r.poll_at.reset();
    roll_step(r, RollStep::failed, message, now, out);
    std::string summary = r.current + ": " + message;
    const std::size_t untouched = r.names.size() - r.next;
    if (untouched > 0) summary += "; " + std::to_string(untouched) + " left untouched";
    // Released, the instance is what this view says (down while unhealthy,
    // up once it recovers), not stuck draining.
    if (held_member(r.current)) {
        r.phase = Roll::Phase::failing;
        r.summary = std::move(summary);
        return roll_push(id, false, now, out);
    }
    roll_finish(id, false, summary, now, out);
}

void ProcessSet::roll_finish(std::uint64_t id, bool ok, const std::string& message, TimePoint now,
                             Commands& out) noexcept {
    Roll& r = rolls_.at(id);
    Command c{Command::Type::roll_done};
    c.id = id;
    c.ok = ok;
    c.names = std::move(r.restarted);
    c.untouched.assign(r.names.begin() + static_cast<long>(r.next), r.names.end());
    c.reason = message;
    c.elapsed = std::chrono::duration_cast<Duration>(now - r.began);
    out.push_back(std::move(c));
    rolls_.erase(id);
}

void ProcessSet::roll_tick(TimePoint now, Commands& out) noexcept {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, _] : rolls_) ids.push_back(id);
    for (const auto id : ids) {
        auto it = rolls_.find(id);
        if (it == rolls_.end()) continue;
        Roll& r = it->second;
        if (r.poll_at && now >= *r.poll_at) {
            r.poll_at.reset();
            r.ticket = next_ticket_++;
            Command c{Command::Type::count_active};
            c.id = id;
            c.name = r.current;
            c.ticket = r.ticket;
            out.push_back(std::move(c));
        } else if ((r.phase == Roll::Phase::restarting || r.phase == Roll::Phase::healthy_wait) && now >= r.deadline) {
            roll_fail(id,
                      std::string(r.phase == Roll::Phase::restarting ? "not RUNNING" : "not healthy") + " within " +
                          duration_text(r.options.timeout),
                      now, out);
        }
    }
}

std::optional<TimePoint> ProcessSet::roll_deadline() const noexcept {
    std::optional<TimePoint> next;
    for (const auto& [_, r] : rolls_) {
        std::optional<TimePoint> at = r.poll_at;
        if (!at && (r.phase == Roll::Phase::restarting || r.phase == Roll::Phase::healthy_wait)) at = r.deadline;
        if (at && (!next || *at < *next)) next = at;
    }
    return next;
}

void ProcessSet::fail_rolls(TimePoint now, Commands& out) noexcept {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, r] : rolls_)
        if (r.phase != Roll::Phase::failing) ids.push_back(id);
    for (const auto id : ids) roll_fail(id, "vigild is shutting down", now, out);
}

}  // namespace vigil::core
