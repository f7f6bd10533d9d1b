#include "supervisor/supervisor.hpp"

#include <sys/wait.h>

#include <algorithm>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace vigil::supervisor {
namespace {

// Down for good: no process, and none coming unless someone asks.
bool settled_down(core::State s) {
    return s == core::State::stopped || s == core::State::exited || s == core::State::fatal;
}

std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

}  // namespace

Supervisor::Supervisor(boost::asio::io_context& io, config::Config config, std::uint64_t seed)
    : io_(io), config_(std::move(config)), rng_(seed), graph_(config_.programs), intent_(config_.daemon.state_dir),
      pids_(config_.daemon.state_dir, [&io](std::function<void()> fn) { boost::asio::post(io, std::move(fn)); }) {
    sockets_.sync(config_.programs);
    for (const auto& p : config_.programs) add_runner(p);
}

Supervisor::~Supervisor() {
    for (auto& [_, r] : runners_) r->close();
}

void Supervisor::add_runner(const config::Program& p) {
    if (std::find(order_.begin(), order_.end(), p.name) == order_.end()) order_.push_back(p.name);
    runners_[p.name] = std::make_shared<ProcessRunner>(io_, p, config_.daemon, rng_, *this, &sockets_);
}

ProcessRunner* Supervisor::find(const std::string& name) {
    auto it = runners_.find(name);
    return it == runners_.end() ? nullptr : it->second.get();
}

const ProcessRunner* Supervisor::find(const std::string& name) const {
    auto it = runners_.find(name);
    return it == runners_.end() ? nullptr : it->second.get();
}

std::size_t Supervisor::stop_leftovers() {
    std::map<std::string, int> signals;
    std::chrono::milliseconds grace{0};
    for (const auto& p : config_.programs) {
        signals[p.name] = p.stopsignal;
        grace = std::max(grace, p.stopwaitsecs);
    }
    return pids_.stop_leftovers(signals, grace);
}

void Supervisor::start() {
    for (const auto& name : order_) {
        if (!runners_[name]->program().autostart) continue;
        if (intent_.stopped_by_hand(name)) {
            spdlog::info("{}: left stopped: stopped by hand before vigild restarted", name);
            continue;
        }
        pending_start_.insert(name);
        startup_.insert(name);
    }
    evaluate();
}

bool Supervisor::start_settled() const {
    for (const auto& name : startup_) {
        const ProcessRunner* r = find(name);
        if (!r) continue;
        const core::State s = r->state();
        if (s == core::State::running || s == core::State::fatal || s == core::State::exited) continue;
        // Waiting on a dependency that gave up will never start: settled too.
        if (pending_start_.count(name)) {
            bool hopeless = false;
            for (const auto& d : graph_.dependencies(name)) {
                const ProcessRunner* dep = find(d.name);
                hopeless |= !dep || dep->state() == core::State::fatal || dep->state() == core::State::exited ||
                            (dep->state() == core::State::stopped && !pending_start_.count(d.name));
            }
            if (hopeless) continue;
        }
        return false;
    }
    return true;
}

void Supervisor::shutdown(std::function<void()> done) {
    if (shutting_down_) return;
    spdlog::info("shutting down: stopping {} processes in reverse dependency order", order_.size());
    shutting_down_ = true;
    on_down_ = std::move(done);
    pending_start_.clear();
    evaluate();
}

bool Supervisor::dependency_met(const config::Dependency& dep) const {
    const ProcessRunner* r = find(dep.name);
    if (!r || r->state() != core::State::running) return false;
    return dep.condition == config::DependencyCondition::started || r->health() == core::HealthStatus::healthy;
}

std::string Supervisor::waiting_for(const std::string& name) const {
    auto it = waiting_on_.find(name);
    return it == waiting_on_.end() ? "" : it->second;
}

// --- operator requests -------------------------------------------------------

std::vector<ProcessRunner*> Supervisor::resolve(const std::string& spec, std::string& error) {
    std::vector<ProcessRunner*> out;
    auto add_if = [&](auto pred) {
        for (const auto& name : order_) {
            ProcessRunner* r = runners_[name].get();
            if (pred(r->program())) out.push_back(r);
        }
    };
    if (spec == "all") {
        add_if([](const config::Program&) { return true; });
    } else if (auto colon = spec.find(':'); colon != std::string::npos) {
        const std::string group = spec.substr(0, colon), member = spec.substr(colon + 1);
        add_if([&](const config::Program& p) { return p.group == group && (member == "*" || p.name == member); });
    } else if (runners_.count(spec)) {
        out.push_back(runners_[spec].get());
    } else {
        add_if([&](const config::Program& p) { return p.program == spec || p.group == spec; });
    }
    if (out.empty()) error = "no such process or group: " + spec;
    return out;
}

void Supervisor::request_start(ProcessRunner& r) {
    intent_.set_stopped(r.name(), false);
    pending_start_.insert(r.name());
    evaluate();
}

void Supervisor::request_stop(ProcessRunner& r) {
    intent_.set_stopped(r.name(), true);
    pending_start_.erase(r.name());
    waiting_on_.erase(r.name());
    r.send(core::Event::stop());
}

void Supervisor::request_restart(ProcessRunner& r) {
    if (settled_down(r.state())) return request_start(r);
    intent_.set_stopped(r.name(), false);
    r.send(core::Event::restart());
}

// --- config edits ----------------------------------------------------------

core::ConfigDiff Supervisor::plan(const config::Config& next, const std::vector<std::string>& only) const {
    return core::select(core::diff_programs(config_.programs, next.programs), config_.programs, next.programs, only);
}

core::ConfigDiff Supervisor::update(config::Config next, const std::vector<std::string>& only) {
    const core::ConfigDiff d = plan(next, only);
    auto in = [](const std::vector<std::string>& v, const std::string& n) {
        return std::find(v.begin(), v.end(), n) != v.end();
    };

    // The programs vigild runs from now on: the edit where it applies, the
    // old settings where `only` left them out.
    std::vector<config::Program> merged;
    for (const auto& p : next.programs) {
        if (in(d.added, p.name) || in(d.changed, p.name)) merged.push_back(p);
        else if (const ProcessRunner* r = find(p.name)) merged.push_back(r->program());
    }
    for (const auto& p : config_.programs)
        if (!next.find(p.name) && !in(d.removed, p.name)) merged.push_back(p);

    config::Daemon daemon = config_.daemon;  // socket and dirs change only with a restart
    config_ = std::move(next);
    config_.daemon = daemon;
    config_.programs = merged;
    graph_ = core::DependencyGraph(config_.programs);
    sockets_.sync(config_.programs);

    for (const auto& name : d.removed) {
        spdlog::info("{}: removed from the config, stopping", name);
        replacing_[name] = Replacement{};
        pending_start_.erase(name);
        runners_[name]->send(core::Event::stop());
    }
    for (const auto& name : d.changed) {
        ProcessRunner& r = *runners_[name];
        const config::Program& p = *config_.find(name);
        const bool was_up = !settled_down(r.state()) || pending_start_.count(name);
        spdlog::info("{}: settings changed, {}", name, was_up ? "restarting" : "replacing");
        replacing_[name] = Replacement{p, was_up || (p.autostart && !intent_.stopped_by_hand(name))};
        pending_start_.erase(name);
        r.send(core::Event::stop());
    }
    for (const auto& name : d.added) {
        const config::Program& p = *config_.find(name);
        spdlog::info("{}: added", name);
        add_runner(p);
        if (p.autostart) pending_start_.insert(name);
    }
    evaluate();
    const auto observers = update_observers_;
    for (const auto& [_, o] : observers) o(d);
    return d;
}

void Supervisor::finish_replacements() {
    for (auto it = replacing_.begin(); it != replacing_.end();) {
        auto runner = runners_.find(it->first);
        if (runner == runners_.end() || !settled_down(runner->second->state())) {
            ++it;
            continue;
        }
        runner->second->close();
        runners_.erase(runner);
        if (it->second.next) {
            add_runner(*it->second.next);
            if (it->second.start) pending_start_.insert(it->first);
        } else {
            order_.erase(std::remove(order_.begin(), order_.end(), it->first), order_.end());
            waiting_on_.erase(it->first);
            spdlog::info("{}: removed", it->first);
        }
        it = replacing_.erase(it);
        evaluate_again_ = true;
    }
}

// --- observers and the settle loop -------------------------------------------

std::uint64_t Supervisor::subscribe(Observer o) {
    observers_[next_observer_] = std::move(o);
    return next_observer_++;
}

std::uint64_t Supervisor::subscribe_health(HealthObserver o) {
    health_observers_[next_observer_] = std::move(o);
    return next_observer_++;
}

std::uint64_t Supervisor::subscribe_update(UpdateObserver o) {
    update_observers_[next_observer_] = std::move(o);
    return next_observer_++;
}

void Supervisor::unsubscribe(std::uint64_t id) {
    observers_.erase(id);
    health_observers_.erase(id);
    update_observers_.erase(id);
}

void Supervisor::on_health(ProcessRunner& runner, core::HealthStatus from, core::HealthStatus to,
                           const std::string& detail) {
    if (from != to) {
        const auto level = to == core::HealthStatus::unhealthy ? spdlog::level::warn : spdlog::level::info;
        spdlog::log(level, "{}: health {} -> {}{}{}", runner.name(), core::health_status_name(from),
                    core::health_status_name(to), detail.empty() ? "" : ": ", detail);
    }
    const auto observers = health_observers_;
    for (const auto& [_, o] : observers) o(runner, from, to, detail);
    // Liveness: restart through the backoff. Readiness (isolate): leave it
    // running; the proxy takes it out of traffic.
    if (to == core::HealthStatus::unhealthy && runner.program().on_unhealthy == config::OnUnhealthy::restart &&
        !shutting_down_)
        runner.send(core::Event::unhealthy());
    evaluate();
}

// A program that failed while one of its dependencies is down would only
// crash-loop through its backoff against it: hold it (STOPPED, "waiting for
// …") and start it again once the dependency is back.
void Supervisor::hold_if_dependency_down(ProcessRunner& runner) {
    if (shutting_down_ || runner.state() != core::State::backoff) return;
    auto unmet = graph_.unmet(runner.name(), [this](const config::Dependency& d) { return dependency_met(d); });
    if (unmet.empty()) return;
    spdlog::info("{}: held until {} {} back instead of restarting against {}", runner.name(), join(unmet),
                 unmet.size() == 1 ? "is" : "are", unmet.size() == 1 ? "it" : "them");
    pending_start_.insert(runner.name());
    runner.send(core::Event::stop());
}

void Supervisor::on_transition(ProcessRunner& runner, const core::Decision& d) {
    // Keep <state_dir>/pids in step with what runs, for the next vigild.
    pid_t& recorded = recorded_pid_[runner.name()];
    if (runner.pid() != recorded) {
        if (runner.pid() > 0) pids_.record(runner.name(), runner.pid());
        else pids_.forget(runner.name());
        recorded = runner.pid();
    }
    std::string extra;
    if (!runner.spawn_error().empty() && (d.to == core::State::backoff || d.to == core::State::fatal))
        extra = " [" + runner.spawn_error() + "]";
    if (d.changed()) {
        const auto level = (d.to == core::State::fatal || d.to == core::State::backoff) ? spdlog::level::warn
                                                                                         : spdlog::level::info;
        spdlog::log(level, "{}: {} -> {}: {}{}", runner.name(), core::state_name(d.from), core::state_name(d.to),
                    d.reason, extra);
    } else {
        spdlog::info("{}: {}: {}{}", runner.name(), core::state_name(d.to), d.reason, extra);
    }
    // Observers may unsubscribe themselves while being called.
    const auto observers = observers_;
    for (const auto& [_, o] : observers) o(runner, d);
    if (d.to == core::State::backoff && d.changed()) hold_if_dependency_down(runner);
    evaluate();
}

// Settles the whole set: called after every transition. Transitions made
// here re-enter through on_transition; the flag turns that recursion into
// another pass of this loop (a queue, not a call stack).
void Supervisor::evaluate() {
    if (evaluating_) {
        evaluate_again_ = true;
        return;
    }
    evaluating_ = true;
    do {
        evaluate_again_ = false;
        finish_replacements();
        if (shutting_down_) stop_for_shutdown();
        else start_pending();
    } while (evaluate_again_);
    evaluating_ = false;
}

void Supervisor::start_pending() {
    for (const auto& name : std::vector<std::string>(order_)) {
        if (!pending_start_.count(name) || replacing_.count(name)) continue;
        auto unmet = graph_.unmet(name, [this](const config::Dependency& d) { return dependency_met(d); });
        if (!unmet.empty()) {
            std::string msg = "waiting for " + join(unmet);
            if (waiting_on_[name] != msg) spdlog::info("{}: {}", name, msg);
            waiting_on_[name] = std::move(msg);
            continue;
        }
        pending_start_.erase(name);
        waiting_on_.erase(name);
        runners_[name]->send(core::Event::start());
    }
}

void Supervisor::stop_for_shutdown() {
    bool all_down = true;
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
        ProcessRunner& r = *runners_[*it];
        if (settled_down(r.state())) continue;
        all_down = false;
        if (r.state() == core::State::stopping) continue;
        auto up = graph_.up_dependents(*it, [this](const std::string& n) {
            const ProcessRunner* d = find(n);
            return !d || settled_down(d->state());
        });
        if (up.empty()) r.send(core::Event::stop());
    }
    if (all_down && on_down_) {
        auto done = std::move(on_down_);
        on_down_ = nullptr;
        spdlog::info("all programs are down");
        boost::asio::post(io_, std::move(done));
    }
}

void Supervisor::reap_children() {
    for (;;) {
        siginfo_t si{};
        // WNOWAIT peeks: a managed child's status must be collected through
        // its own pidfd, never stolen by a blanket waitpid(-1).
        if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) return;
        ProcessRunner* owner = nullptr;
        for (auto& [_, r] : runners_)
            if (r->pid() == si.si_pid) owner = r.get();
        if (owner) {
            if (!owner->try_reap()) return;  // cannot make progress; its pidfd will fire
            continue;
        }
        int status;
        if (::waitpid(si.si_pid, &status, WNOHANG) > 0)
            spdlog::debug("reaped orphan pid {} ({})", si.si_pid,
                          WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                              : "exit " + std::to_string(WEXITSTATUS(status)));
    }
}

}  // namespace vigil::supervisor
