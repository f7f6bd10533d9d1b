// Start order, holds, shutdown order and replacements. Pools are in
// process_set_pools.cpp, waits in process_set_waits.cpp.
#include "supervisor/core/process_set.hpp"

#include <algorithm>

namespace vigil::core {
namespace {

Command make(Command::Type t, const std::string& name, std::string reason = {}) {
    Command c{t};
    c.name = name;
    c.reason = std::move(reason);
    return c;
}

// Wanted up, start not sent yet.
bool waiting_to_start(Intent i) { return i == Intent::pending || i == Intent::held; }

}  // namespace

std::string join_names(const std::vector<std::string>& names) noexcept {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

std::string_view intent_name(Intent i) noexcept {
    switch (i) {
        case Intent::down: return "down";
        case Intent::stopped_by_hand: return "stopped by hand";
        case Intent::pending: return "pending";
        case Intent::held: return "held";
        case Intent::up: return "up";
        case Intent::replacing: return "replacing";
    }
    return "down";
}

bool stays_down(State s) noexcept { return s == State::stopped || s == State::exited || s == State::fatal; }

ProcessSet::ProcessSet(const config::Config& config, const std::set<std::string>& stopped_by_hand) noexcept {
    adopt(config);
    for (const auto& name : stopped_by_hand)
        if (auto it = procs_.find(name); it != procs_.end()) it->second.intent = Intent::stopped_by_hand;
}

// Takes the programs, dependencies and pools of `config`, keeping what is
// known of processes that stay (and of removed ones until they are dropped).
void ProcessSet::adopt(const config::Config& config) noexcept {
    for (const auto& p : config.programs) {
        if (std::find(order_.begin(), order_.end(), p.name) == order_.end()) order_.push_back(p.name);
        Proc& pr = procs_[p.name];
        pr.autostart = p.autostart;
        pr.has_healthcheck = p.health.kind != config::HealthKind::none;
        pr.restart_on_unhealthy = p.on_unhealthy == config::OnUnhealthy::restart;
        pr.stopwaitsecs = p.stopwaitsecs;
        pr.health_target = p.health.target;
    }
    graph_ = DependencyGraph(config.programs);
    proxy_name_.clear();
    proxy_hands_over_ = false;
    for (const auto& p : config.programs)
        if (p.kind == "proxy") {
            proxy_name_ = p.name;
            proxy_hands_over_ = !p.sockets.empty();
            proxy_startsecs_ = p.notify ? Duration{0} : p.startsecs;
        }
    pools_.clear();
    pool_roles_.clear();
    for (const auto& u : config.upstreams) {
        for (const auto& s : u.servers)
            if (config.find(s)) pools_[u.name].push_back(s);
        if (u.role) pool_roles_[u.name] = *u.role;
    }
}

Intent ProcessSet::intent(const std::string& name) const noexcept {
    auto it = procs_.find(name);
    return it == procs_.end() ? Intent::down : it->second.intent;
}

State ProcessSet::state(const std::string& name) const noexcept {
    auto it = procs_.find(name);
    return it == procs_.end() ? State::stopped : it->second.state;
}

std::optional<HealthStatus> ProcessSet::health_of(const std::string& name) const noexcept {
    auto it = procs_.find(name);
    return it == procs_.end() ? std::nullopt : it->second.health;
}

std::string ProcessSet::waiting_for(const std::string& name) const noexcept {
    auto it = procs_.find(name);
    return it == procs_.end() ? "" : it->second.waiting;
}

bool ProcessSet::dependency_met(const config::Dependency& dep) const noexcept {
    auto it = procs_.find(dep.name);
    if (it == procs_.end() || it->second.state != State::running) return false;
    return dep.condition == config::DependencyCondition::started || it->second.health == HealthStatus::healthy;
}

bool ProcessSet::start_settled() const noexcept {
    for (const auto& [name, p] : procs_) {
        if (!p.startup) continue;
        if (p.state == State::running || p.state == State::fatal || p.state == State::exited) continue;
        // Waiting on a dependency that gave up will never start: settled too.
        if (waiting_to_start(p.intent)) {
            bool hopeless = false;
            for (const auto& d : graph_.dependencies(name)) {
                auto dep = procs_.find(d.name);
                hopeless |= dep == procs_.end() || dep->second.state == State::fatal ||
                            dep->second.state == State::exited ||
                            (dep->second.state == State::stopped && !waiting_to_start(dep->second.intent));
            }
            if (hopeless) continue;
        }
        return false;
    }
    return true;
}

// --- requests ------------------------------------------------------------------

Commands ProcessSet::startup(TimePoint) noexcept {
    Commands out;
    for (const auto& name : order_) {
        Proc& p = procs_[name];
        if (!p.autostart) continue;
        if (p.intent == Intent::stopped_by_hand) {
            out.push_back(make(Command::Type::log, name, "left stopped: stopped by hand before vigild restarted"));
            continue;
        }
        p.intent = Intent::pending;
        p.startup = true;
    }
    settle(out);
    return out;
}

Commands ProcessSet::shutdown(TimePoint now) noexcept {
    Commands out;
    if (shutting_down_) return out;
    out.push_back(make(Command::Type::log, "",
                       "shutting down: stopping " + std::to_string(order_.size()) +
                           " processes in reverse dependency order"));
    shutting_down_ = true;
    for (auto& [_, p] : procs_)
        if (waiting_to_start(p.intent)) p.intent = Intent::down;
    fail_rolls(now, out);
    if (handover_) abort_handover("shutting down", handover_->pid, out);
    settle(out);
    return out;
}

Commands ProcessSet::begin_start(const std::string& name, TimePoint) noexcept {
    Commands out;
    auto it = procs_.find(name);
    if (it == procs_.end()) return out;
    Proc& p = it->second;
    if (p.intent == Intent::replacing) p.after_replace = Intent::pending;
    else p.intent = Intent::pending;
    settle(out);
    return out;
}

Commands ProcessSet::start(const std::string& name, TimePoint now) noexcept { return begin_start(name, now); }

Commands ProcessSet::stop(const std::string& name, TimePoint) noexcept {
    Commands out;
    auto it = procs_.find(name);
    if (it == procs_.end()) return out;
    Proc& p = it->second;
    if (p.intent == Intent::replacing) p.after_replace = Intent::stopped_by_hand;
    else p.intent = Intent::stopped_by_hand;
    p.waiting.clear();
    if (name == proxy_name_ && handover_) abort_handover("stop requested", handover_->pid, out);
    out.push_back(make(Command::Type::stop, name));
    settle(out);
    return out;
}

Commands ProcessSet::restart(const std::string& name, TimePoint now) noexcept {
    auto it = procs_.find(name);
    if (it == procs_.end()) return {};
    Proc& p = it->second;
    if (stays_down(p.state)) return begin_start(name, now);
    if (p.intent == Intent::replacing) p.after_replace = Intent::pending;
    else p.intent = Intent::up;
    Commands out;
    if (can_hand_over(name)) begin_handover("restart requested", now, out);
    else out.push_back(make(Command::Type::restart, name));
    settle(out);
    return out;
}

Commands ProcessSet::update(const config::Config& config, const ConfigDiff& d, TimePoint now) noexcept {
    Commands out;
    adopt(config);
    for (const auto& name : d.removed) {
        Proc& p = procs_[name];
        p.intent = Intent::replacing;
        p.removed = true;
        out.push_back(make(Command::Type::stop, name, "removed from the config, stopping"));
    }
    for (const auto& name : d.changed) {
        Proc& p = procs_[name];
        if (can_hand_over(name)) {  // the new settings come with the incoming proxy
            begin_handover("settings changed", now, out);
            continue;
        }
        const bool was_up = !stays_down(p.state) || waiting_to_start(p.intent);
        const bool by_hand = (p.intent == Intent::replacing ? p.after_replace : p.intent) == Intent::stopped_by_hand;
        p.after_replace = was_up || (p.autostart && !by_hand) ? Intent::pending
                          : by_hand                          ? Intent::stopped_by_hand
                                                             : Intent::down;
        p.intent = Intent::replacing;
        p.removed = false;
        out.push_back(make(Command::Type::stop, name,
                           std::string("settings changed, ") + (was_up ? "restarting" : "replacing")));
    }
    for (const auto& name : d.added) {
        Proc& p = procs_[name];
        out.push_back(make(Command::Type::log, name, "added"));
        if (p.autostart) p.intent = Intent::pending;
    }
    if (proxy_up()) resync(out);
    settle(out);
    return out;
}

// --- what happened ---------------------------------------------------------------

Commands ProcessSet::observed(const std::string& name, const Change& c, TimePoint now) noexcept {
    Commands out;
    auto it = procs_.find(name);
    if (it == procs_.end()) return out;
    Proc& p = it->second;
    p.state = c.to;
    p.pid = c.pid;
    p.stop_queued = false;
    p.spawn_error = std::string(c.spawn_error);
    p.exit_reason = std::string(c.exit_reason);
    if (p.pid == 0) p.health.reset();
    if (name == proxy_name_) on_proxy_change(c, now, out);
    else refresh_member(name, out);
    check_waits(name, &c, out);
    check_rolls(name, &c, now, out);
    if (c.to == State::backoff && c.from != c.to) hold_if_dependency_down(name, out);
    settle(out);
    return out;
}

Commands ProcessSet::health(const std::string& name, std::optional<HealthStatus> h, TimePoint now) noexcept {
    Commands out;
    auto it = procs_.find(name);
    if (it == procs_.end()) return out;
    Proc& p = it->second;
    p.health = h;
    // Liveness: restart through the backoff. Readiness (isolate): leave it
    // running; its pools take it out of traffic.
    if (h == HealthStatus::unhealthy && p.restart_on_unhealthy && !shutting_down_)
        out.push_back(make(Command::Type::unhealthy, name));
    refresh_member(name, out);
    check_waits(name, nullptr, out);
    check_rolls(name, nullptr, now, out);
    settle(out);
    return out;
}

// A program that failed while one of its dependencies is down would only
// crash-loop through its backoff against it: hold it (STOPPED, "waiting for
// …") and start it again once the dependency is back.
void ProcessSet::hold_if_dependency_down(const std::string& name, Commands& out) noexcept {
    Proc& p = procs_[name];
    if (shutting_down_ || p.state != State::backoff || p.intent == Intent::replacing) return;
    auto unmet = graph_.unmet(name, [this](const config::Dependency& d) { return dependency_met(d); });
    if (unmet.empty()) return;
    p.intent = Intent::held;
    out.push_back(make(Command::Type::stop, name,
                       "held until " + join_names(unmet) + (unmet.size() == 1 ? " is" : " are") +
                           " back instead of restarting against " + (unmet.size() == 1 ? "it" : "them")));
}

// --- settling ------------------------------------------------------------------------

// After every event: replacements whose old process is down, then starts (or,
// in shutdown, stops) that the new view allows. Commands are carried out after
// this returns; the decisions they cause come back through observed().
void ProcessSet::settle(Commands& out) noexcept {
    finish_replacements(out);
    if (shutting_down_) stop_for_shutdown(out);
    else start_pending(out);
}

void ProcessSet::finish_replacements(Commands& out) noexcept {
    for (auto it = order_.begin(); it != order_.end();) {
        const std::string name = *it;
        Proc& p = procs_[name];
        if (p.intent != Intent::replacing || !stays_down(p.state)) {
            ++it;
            continue;
        }
        if (p.removed) {
            out.push_back(make(Command::Type::remove, name, "removed"));
            procs_.erase(name);
            it = order_.erase(it);
            continue;
        }
        out.push_back(make(Command::Type::replace, name));
        p.intent = shutting_down_ && p.after_replace == Intent::pending ? Intent::down : p.after_replace;
        p.state = State::stopped;
        p.pid = 0;
        p.health.reset();
        p.spawn_error.clear();
        p.exit_reason.clear();
        ++it;
    }
}

void ProcessSet::start_pending(Commands& out) noexcept {
    for (const auto& name : order_) {
        Proc& p = procs_[name];
        if (!waiting_to_start(p.intent)) continue;
        auto unmet = graph_.unmet(name, [this](const config::Dependency& d) { return dependency_met(d); });
        if (!unmet.empty()) {
            std::string msg = "waiting for " + join_names(unmet);
            if (p.waiting != msg) out.push_back(make(Command::Type::log, name, msg));
            p.waiting = std::move(msg);
            continue;
        }
        p.intent = Intent::up;
        p.waiting.clear();
        out.push_back(make(Command::Type::start, name));
    }
}

void ProcessSet::stop_for_shutdown(Commands& out) noexcept {
    bool all_down = retiring_.empty() && !handover_;
    for (auto& [id, r] : retiring_)
        if (!r.told) retire(id, "shutting down", out);
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
        Proc& p = procs_[*it];
        if (stays_down(p.state)) continue;
        all_down = false;
        if (p.state == State::stopping || p.stop_queued) continue;
        auto up = graph_.up_dependents(*it, [this](const std::string& n) {
            auto d = procs_.find(n);
            return d == procs_.end() || stays_down(d->second.state);
        });
        if (!up.empty()) continue;
        // The proxy drains against live servers: its pool members wait.
        if (*it != proxy_name_ && proxy_draining() && !pools_of(*it).empty()) continue;
        if (p.intent != Intent::replacing && p.intent != Intent::stopped_by_hand) p.intent = Intent::down;
        p.stop_queued = true;
        out.push_back(make(Command::Type::stop, *it));
    }
    if (all_down && !all_down_told_) {
        all_down_told_ = true;
        out.push_back(make(Command::Type::all_down, "", "all programs are down"));
    }
}

}  // namespace vigil::core
