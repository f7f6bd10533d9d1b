// Waits (start, stop and restart replies, POST /v1/programs/{spec}/wait) and
// the clock (which also drives the rolls' polls and timeouts).
#include <algorithm>

#include "supervisor/core/duration_text.hpp"
#include "supervisor/core/process_set.hpp"

namespace vigil::core {

const char* wait_goal_name(WaitGoal g) noexcept {
    switch (g) {
        case WaitGoal::up:
        case WaitGoal::restarted:
        case WaitGoal::running: return "RUNNING";
        case WaitGoal::healthy: return "healthy";
        case WaitGoal::down:
        case WaitGoal::stopped: return "stopped";
    }
    return "";
}

Commands ProcessSet::wait(std::uint64_t id, const std::vector<std::pair<std::string, WaitGoal>>& goals,
                          TimePoint deadline, TimePoint now) noexcept {
    Commands out;
    Wait w;
    w.deadline = deadline;
    w.timeout = duration_text(std::chrono::duration_cast<Duration>(deadline - now));
    for (const auto& [name, goal] : goals) {
        if (std::find(w.order.begin(), w.order.end(), name) == w.order.end()) w.order.push_back(name);
        w.pending[name] = goal;
    }
    for (auto it = w.pending.begin(); it != w.pending.end();) {
        if (!known(it->first)) {
            record(w, it->first, false, "no such process");
            it = w.pending.erase(it);
            continue;
        }
        it = check_goal(w, it->first, it->second, nullptr) ? w.pending.erase(it) : std::next(it);
    }
    if (w.pending.empty()) {
        finish_wait(id, w, false, out);
        return out;
    }
    // A zero timeout answers with the states as they are.
    if (deadline <= now) expire(id, w, out);
    else waits_[id] = std::move(w);
    return out;
}

// Records a result; true once `name` has reached (or can no longer reach) its
// goal. `c` is the decision just seen, null for a look at the current state or
// a health change.
bool ProcessSet::check_goal(Wait& w, const std::string& name, WaitGoal goal, const Change* c) noexcept {
    const Proc& p = procs_[name];
    const State s = p.state;
    switch (goal) {
        case WaitGoal::down:
        case WaitGoal::stopped: return stays_down(s) && record(w, name, true, "stopped");
        case WaitGoal::restarted:
            if (c == nullptr) return false;  // must see it go down first
            [[fallthrough]];
        case WaitGoal::up:
            if (s == State::running) return record(w, name, true, "started");
            if (s == State::fatal) return record(w, name, false, p.spawn_error.empty() ? "gave up" : p.spawn_error);
            if (s == State::backoff && c && c->from == State::starting)
                return record(w, name, false,
                              "failed to start: " + (!p.spawn_error.empty()   ? p.spawn_error
                                                     : p.exit_reason.empty() ? std::string(c->reason)
                                                                             : p.exit_reason + " (" +
                                                                                   std::string(c->reason) + ")"));
            if (s == State::exited && c) return record(w, name, false, std::string(c->reason));
            return false;
        case WaitGoal::running:
        case WaitGoal::healthy:
            if (s == State::running) {
                if (goal == WaitGoal::running) return record(w, name, true, "running");
                if (!p.has_healthcheck) return record(w, name, true, "running (no healthcheck)");
                return p.health == HealthStatus::healthy && record(w, name, true, "healthy");
            }
            // States that nothing but an operator leaves: waiting longer
            // would only turn a clear answer into a timeout.
            if (s == State::fatal)
                return record(w, name, false,
                              "FATAL: " + (!p.spawn_error.empty()   ? p.spawn_error
                                           : p.exit_reason.empty() ? std::string("gave up")
                                                                   : p.exit_reason));
            if (s == State::exited) return record(w, name, false, "EXITED and autorestart leaves it down");
            if (s == State::stopped && p.intent == Intent::stopped_by_hand)
                return record(w, name, false, "stopped by hand (vigilctl start it)");
            return false;
    }
    return false;
}

void ProcessSet::check_waits(const std::string& name, const Change* c, Commands& out) noexcept {
    for (auto it = waits_.begin(); it != waits_.end();) {
        Wait& w = it->second;
        auto g = w.pending.find(name);
        if (g == w.pending.end()) {
            ++it;
            continue;
        }
        if (g->second == WaitGoal::restarted) {
            if (c && (c->to == State::stopping || c->to == State::starting || c->handed_over))
                g->second = WaitGoal::up;
            // A handover is a restart already done: the new process is up.
            if (!c || !c->handed_over) {
                ++it;
                continue;
            }
        }
        if (check_goal(w, name, g->second, c)) w.pending.erase(g);
        if (w.pending.empty()) {
            finish_wait(it->first, w, false, out);
            it = waits_.erase(it);
        } else {
            ++it;
        }
    }
}

bool ProcessSet::record(Wait& w, const std::string& name, bool ok, std::string message) noexcept {
    WaitResult r;
    r.name = name;
    r.ok = ok;
    r.message = std::move(message);
    auto it = procs_.find(name);
    r.state = it == procs_.end() ? "GONE" : std::string(state_name(it->second.state));
    if (it != procs_.end() && it->second.health) r.health = std::string(health_status_name(*it->second.health));
    w.results[name] = std::move(r);
    w.ok = w.ok && ok;
    return true;
}

// A restart that was a handover and did not happen: the old process still
// runs, so the wait would otherwise last until its timeout.
void ProcessSet::fail_restart_waits(const std::string& name, const std::string& message, Commands& out) noexcept {
    for (auto it = waits_.begin(); it != waits_.end();) {
        Wait& w = it->second;
        auto g = w.pending.find(name);
        if (g == w.pending.end() || g->second != WaitGoal::restarted) {
            ++it;
            continue;
        }
        record(w, name, false, message);
        w.pending.erase(g);
        if (w.pending.empty()) {
            finish_wait(it->first, w, false, out);
            it = waits_.erase(it);
        } else {
            ++it;
        }
    }
}

void ProcessSet::finish_wait(std::uint64_t id, Wait& w, bool timed_out, Commands& out) noexcept {
    Command c{Command::Type::wait_done};
    c.id = id;
    c.ok = w.ok;
    c.timed_out = timed_out;
    // Reported in the order asked, not the order finished.
    for (const auto& name : w.order)
        if (auto it = w.results.find(name); it != w.results.end()) c.results.push_back(it->second);
    out.push_back(std::move(c));
}

void ProcessSet::expire(std::uint64_t id, Wait& w, Commands& out) noexcept {
    for (const auto& [name, goal] : w.pending) {
        auto p = procs_.find(name);
        std::string is = p == procs_.end() ? "GONE" : std::string(state_name(p->second.state));
        if (p != procs_.end() && p->second.health)
            is += ", health " + std::string(health_status_name(*p->second.health));
        record(w, name, false, std::string("not ") + wait_goal_name(goal) + " within " + w.timeout + ", it is " + is);
    }
    finish_wait(id, w, !w.pending.empty(), out);
}

Commands ProcessSet::tick(TimePoint now) noexcept {
    Commands out;
    if (reconcile_at_ && now >= *reconcile_at_) {
        reconcile_at_.reset();
        if (proxy_up()) out.push_back(Command{Command::Type::check_pools});
    }
    handover_tick(now, out);
    for (auto it = waits_.begin(); it != waits_.end();) {
        Wait& w = it->second;
        if (now < w.deadline) {
            ++it;
            continue;
        }
        expire(it->first, w, out);
        it = waits_.erase(it);
    }
    roll_tick(now, out);
    return out;
}

std::optional<TimePoint> ProcessSet::next_deadline() const noexcept {
    std::optional<TimePoint> next = reconcile_at_;
    if (handover_ && (!next || handover_->deadline < *next)) next = handover_->deadline;
    for (const auto& [_, w] : waits_)
        if (!next || w.deadline < *next) next = w.deadline;
    if (const auto roll = roll_deadline(); roll && (!next || *roll < *next)) next = roll;
    return next;
}

}  // namespace vigil::core
