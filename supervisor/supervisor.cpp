#include "supervisor/supervisor.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <utility>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace vigil::supervisor {
namespace {

// `last_exit` keeps the text the change points into.
core::Change change_of(const ProcessRunner& r, const core::Decision& d, const std::string& last_exit) {
    core::Change c;
    c.from = d.from;
    c.to = d.to;
    c.pid = r.pid();
    c.reason = d.reason;
    c.spawn_error = r.spawn_error();
    c.exit_reason = r.exit_reason();
    c.last_exit = last_exit;
    return c;
}

}  // namespace

Supervisor::Supervisor(boost::asio::io_context& io, config::Config config, std::uint64_t seed,
                       const reexec::State* carried)
    : io_(io), config_(std::move(config)), rng_(seed), intent_(config_.daemon.state_dir),
      set_(config_, intent_.stopped()),
      pids_(config_.daemon.state_dir, [&io](std::function<void()> fn) { boost::asio::post(io, std::move(fn)); }),
      tick_(io) {
    if (carried) sockets_.adopt(carried->sockets);
    sockets_.sync(config_.programs);
    for (const auto& p : config_.programs) {
        const reexec::CarriedProcess* c = nullptr;
        if (carried)
            for (const auto& cp : carried->processes)
                if (cp.name == p.name) c = &cp;
        add_runner(p, c);
    }
}

Supervisor::~Supervisor() {
    for (auto& [_, r] : runners_) r->close();
    if (incoming_) incoming_->close();
    for (auto& [_, r] : retiring_) r->close();
}

std::shared_ptr<ProcessRunner> Supervisor::make_runner(const config::Program& p, std::string instance,
                                                      const reexec::CarriedProcess* carried) {
    return std::make_shared<ProcessRunner>(io_, p, config_.daemon, rng_, children_, *this, &sockets_, carried,
                                           std::move(instance));
}

void Supervisor::add_runner(const config::Program& p, const reexec::CarriedProcess* carried) {
    if (std::find(order_.begin(), order_.end(), p.name) == order_.end()) order_.push_back(p.name);
    runners_[p.name] = make_runner(p, {}, carried);
}

const ProcessRunner* Supervisor::latest(const std::string& name) const {
    if (incoming_ && incoming_->name() == name) return incoming_.get();
    return find(name);
}

void Supervisor::drop(std::shared_ptr<ProcessRunner> r) {
    if (!r) return;
    r->close();
    boost::asio::post(io_, [r = std::move(r)] {});
}

int Supervisor::reopen_logs() {
    int n = 0;
    for (auto& [name, r] : runners_) {
        n += r->reopen_logs();
        if (r->program().kind == "proxy" && r->pid() > 0) ::kill(r->pid(), SIGUSR1);
    }
    return n;
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

void Supervisor::start() { execute(set_.startup(core::Clock::now())); }

bool Supervisor::start_settled() const { return set_.start_settled(); }

void Supervisor::shutdown(std::function<void()> done) {
    if (set_.shutting_down()) return;
    on_down_ = std::move(done);
    execute(set_.shutdown(core::Clock::now()));
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
    execute(set_.start(r.name(), core::Clock::now()));
}

void Supervisor::request_stop(ProcessRunner& r) {
    intent_.set_stopped(r.name(), true);
    execute(set_.stop(r.name(), core::Clock::now()));
}

void Supervisor::request_restart(ProcessRunner& r) {
    intent_.set_stopped(r.name(), false);
    execute(set_.restart(r.name(), core::Clock::now()));
}

void Supervisor::wait(const std::vector<std::pair<std::string, core::WaitGoal>>& goals,
                      std::chrono::milliseconds timeout, WaitDone done) {
    const std::uint64_t id = next_wait_++;
    waits_[id] = std::move(done);
    const auto now = core::Clock::now();
    execute(set_.wait(id, goals, now + timeout, now));
}

void Supervisor::member_ack(const core::Command& push, int status, const std::string& detail) {
    execute(set_.member_ack(push, status, detail, core::Clock::now()));
}

void Supervisor::active_count(std::uint64_t roll, std::uint64_t ticket, std::optional<long> active) {
    execute(set_.active_count(roll, ticket, active, core::Clock::now()));
}

void Supervisor::roll(const std::vector<std::string>& names, const core::RollOptions& options, RollReport report) {
    const std::uint64_t id = next_roll_++;
    rolls_[id] = std::move(report);
    execute(set_.roll(id, names, options, core::Clock::now()));
}

void Supervisor::pools_report(const std::optional<std::map<std::string, std::string>>& actual) {
    execute(set_.pools_report(actual, core::Clock::now()));
}

void Supervisor::pools_not_defined() { execute(set_.pools_not_defined(core::Clock::now())); }

void Supervisor::pools_handed_over(std::uint64_t id) { execute(set_.pools_handed_over(id, core::Clock::now())); }

// --- config edits ----------------------------------------------------------

core::ConfigDiff Supervisor::plan(const config::Config& next, const std::vector<std::string>& only) const {
    return core::select(core::diff_config(config_, next), config_.programs, next.programs, only);
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
        else if (const ProcessRunner* r = latest(p.name)) merged.push_back(r->program());
    }
    for (const auto& p : config_.programs)
        if (!next.find(p.name) && !in(d.removed, p.name)) merged.push_back(p);

    config::Daemon daemon = config_.daemon;  // socket and dirs change only with a restart
    config_ = std::move(next);
    config_.daemon = daemon;
    config_.programs = merged;
    sockets_.sync(config_.programs);

    // Runners for added programs exist before the set may start them; changed
    // ones are replaced (the `replace` command) once their old process is down.
    for (const auto& name : d.added) add_runner(*config_.find(name));
    execute(set_.update(config_, d, core::Clock::now()));
    const auto observers = update_observers_;
    for (const auto& [_, o] : observers) o(d);
    return d;
}

// --- observers ----------------------------------------------------------------

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

std::uint64_t Supervisor::subscribe_notes(NoteObserver o) {
    note_observers_[next_observer_] = std::move(o);
    return next_observer_++;
}

void Supervisor::note(const std::string& name, const std::string& topic, const std::string& text, bool warning) {
    const auto observers = note_observers_;
    for (const auto& [_, o] : observers) o(name, topic, text, warning);
}

void Supervisor::unsubscribe(std::uint64_t id) {
    observers_.erase(id);
    health_observers_.erase(id);
    update_observers_.erase(id);
    note_observers_.erase(id);
}

void Supervisor::on_health(ProcessRunner& runner, core::HealthStatus from, core::HealthStatus to,
                           const std::string& detail) {
    const bool own = find(runner.name()) == &runner;  // not a handover's incoming or retiring process
    if (from != to) {
        const auto level = to == core::HealthStatus::unhealthy && own ? spdlog::level::warn : spdlog::level::info;
        spdlog::log(level, "{}{}: health {} -> {}{}{}", runner.name(), own ? "" : " (pid " + std::to_string(runner.pid()) + ")",
                    core::health_status_name(from), core::health_status_name(to), detail.empty() ? "" : ": ", detail);
    }
    if (!own) return;  // the set hears of it once it is the program's process
    // The set learns first, so observers (a rolling restart releasing its
    // hold, READY=1) see the new view; its commands run after them.
    core::Commands cs = set_.health(runner.name(), runner.health(), core::Clock::now());
    const auto observers = health_observers_;
    for (const auto& [_, o] : observers) o(runner, from, to, detail);
    execute(std::move(cs));
}

void Supervisor::on_transition(ProcessRunner& runner, const core::Decision& d) {
    // Keep <state_dir>/pids in step with what runs, for the next vigild (a
    // handover's processes under NAME:INSTANCE: both of them run).
    const std::string key = runner.instance().empty() ? runner.name() : runner.name() + ":" + runner.instance();
    pid_t& recorded = recorded_pid_[key];
    const pid_t shown = runner.pid() > 0 ? runner.pid() : recorded;  // the one that just ended, if it did
    if (runner.pid() != recorded) {
        if (runner.pid() > 0) pids_.record(key, runner.pid());
        else pids_.forget(key);
        recorded = runner.pid();
    }
    // A handover's incoming or retiring process: the log and the set's
    // handover rules; observers (status, events) see only the program's own.
    std::optional<std::uint64_t> retiring;
    for (const auto& [id, r] : retiring_)
        if (r.get() == &runner) retiring = id;
    if (incoming_.get() == &runner || retiring) {
        spdlog::info("{} ({} pid {}): {} -> {}: {}", runner.name(), retiring ? "retiring" : "incoming", shown,
                     core::state_name(d.from), core::state_name(d.to), d.reason);
        const auto now = core::Clock::now();
        const std::string last_exit = runner.machine().last_exit() ? runner.machine().last_exit()->describe() : "";
        execute(retiring ? set_.retiring_observed(*retiring, change_of(runner, d, last_exit), now)
                         : set_.incoming_observed(runner.name(), change_of(runner, d, last_exit), now));
        return;
    }
    if (find(runner.name()) != &runner) return;  // dropped
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
    const std::string last_exit = runner.machine().last_exit() ? runner.machine().last_exit()->describe() : "";
    core::Commands cs = set_.observed(runner.name(), change_of(runner, d, last_exit), core::Clock::now());
    // Observers may unsubscribe themselves while being called.
    const auto observers = observers_;
    for (const auto& [_, o] : observers) o(runner, d);
    execute(std::move(cs));
}

// --- carrying out the set's commands -------------------------------------------

void Supervisor::execute(core::Commands cs) {
    for (auto& c : cs) queue_.push_back(std::move(c));
    if (executing_) return;
    executing_ = true;
    while (!queue_.empty()) {
        const core::Command c = std::move(queue_.front());
        queue_.pop_front();
        carry_out(c);
    }
    executing_ = false;
    arm_tick();
}

void Supervisor::carry_out(const core::Command& c) {
    using T = core::Command::Type;
    auto runner = runners_.find(c.name);
    ProcessRunner* r = runner == runners_.end() ? nullptr : runner->second.get();
    if (!c.reason.empty() && c.type != T::all_down && c.type != T::set_member && c.type != T::roll_step &&
        c.type != T::roll_done) {
        if (c.name.empty()) spdlog::info("{}", c.reason);
        else spdlog::info("{}: {}", c.name, c.reason);
    }
    switch (c.type) {
        case T::start: if (r) r->send(core::Event::start()); break;
        case T::stop: if (r) r->send(core::Event::stop()); break;
        case T::restart: if (r) r->send(core::Event::restart()); break;
        case T::unhealthy: if (r) r->send(core::Event::unhealthy()); break;
        case T::replace:
            if (r) r->close();
            if (const config::Program* p = config_.find(c.name)) add_runner(*p);
            break;
        case T::remove:
            if (r) r->close();
            if (runner != runners_.end()) runners_.erase(runner);
            order_.erase(std::remove(order_.begin(), order_.end(), c.name), order_.end());
            break;
        case T::all_down:
            spdlog::info("{}", c.reason);
            if (on_down_) boost::asio::post(io_, std::exchange(on_down_, nullptr));
            break;
        case T::define_pools:
        case T::set_member:
        case T::check_pools:
        case T::proxy_gone:
        case T::count_active:
            if (proxy_executor_) proxy_executor_(c);
            // Nobody to ask: a roll waiting on the answer goes on without it.
            else if (c.type == T::set_member && c.ticket) member_ack(c, 0, "no link to the proxy");
            else if (c.type == T::count_active) active_count(c.id, c.ticket, std::nullopt);
            break;
        case T::roll_step:
        case T::roll_done:
            if (auto it = rolls_.find(c.id); it != rolls_.end()) {
                auto report = it->second;
                if (c.type == T::roll_done) rolls_.erase(it);
                report(c);
            }
            break;
        case T::handover_start:
        case T::handover_swap:
        case T::handover_barrier:
        case T::retire:
        case T::handover_abort:
        case T::drop_retired: carry_out_handover(c); break;
        case T::wait_done:
            if (auto w = waits_.find(c.id); w != waits_.end()) {
                auto done = std::move(w->second);
                waits_.erase(w);
                done(c);
            }
            break;
        case T::log: break;
    }
}

void Supervisor::carry_out_handover(const core::Command& c) {
    using T = core::Command::Type;
    auto current = runners_.find(c.name);
    auto old = retiring_.find(c.id);
    switch (c.type) {
        case T::handover_start:
            if (const config::Program* p = config_.find(c.name)) {
                drop(std::exchange(incoming_, nullptr));  // defensive: the set starts one at a time
                incoming_ = make_runner(*p, "h" + std::to_string(++instances_));
                incoming_->send(core::Event::start());
            }
            break;
        case T::handover_swap:
            if (!incoming_ || current == runners_.end()) break;
            retiring_[c.id] = std::exchange(current->second, std::move(incoming_));
            // Its checks ran while it was the incoming one: the set learns
            // where they stand now.
            for (auto& next : set_.health(c.name, current->second->health(), core::Clock::now()))
                queue_.push_back(std::move(next));
            break;
        case T::handover_barrier:
            if (proxy_executor_) proxy_executor_(c);
            else for (auto& next : set_.pools_handed_over(c.id, core::Clock::now())) queue_.push_back(std::move(next));
            break;
        case T::retire:
            if (old != retiring_.end()) old->second->send(core::Event::stop());
            break;
        case T::handover_abort:
            if (!incoming_) break;
            if (c.id == 0) {
                drop(std::exchange(incoming_, nullptr));
                break;
            }
            retiring_[c.id] = std::exchange(incoming_, nullptr);
            retiring_[c.id]->send(core::Event::stop());
            break;
        case T::drop_retired:
            if (old == retiring_.end()) break;
            drop(std::move(old->second));
            retiring_.erase(old);
            break;
        default: break;
    }
}

// One timer for every deadline of the set: re-armed only when the earliest moves.
void Supervisor::arm_tick() {
    const auto at = set_.next_deadline();
    if (at == tick_at_) return;
    tick_at_ = at;
    if (!at) {
        tick_.cancel();
        return;
    }
    tick_.expires_at(*at);
    tick_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        tick_at_.reset();
        execute(set_.tick(core::Clock::now()));
    });
}

void Supervisor::reap_children() {
    for (;;) {
        siginfo_t si{};
        // WNOWAIT peeks: a managed child's status must be collected through
        // its own pidfd, never stolen by a blanket waitpid(-1).
        if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) return;
        if (const auto reaped = children_.hand_over(si.si_pid)) {
            if (!*reaped) return;  // cannot make progress; its pidfd will fire
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

namespace vigil::supervisor {

void Supervisor::set_replica_roles(std::map<std::string, core::ProcessSet::ReplicaRole> roles) {
    execute(set_.set_replica_roles(std::move(roles)));
}

}  // namespace vigil::supervisor
