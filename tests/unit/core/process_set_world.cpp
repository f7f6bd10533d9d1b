#include "process_set_world.hpp"

#include <algorithm>

namespace vigil::core::testing {

config::Program program(const std::string& name, std::vector<std::string> deps, bool healthy_deps) {
    config::Program p;
    p.name = p.program = name;
    p.command = "/bin/true";
    p.autostart = true;
    p.startsecs = Duration{1000};
    p.stopwaitsecs = Duration{10000};
    for (auto& d : deps)
        p.depends_on.push_back({d, healthy_deps ? config::DependencyCondition::healthy
                                                : config::DependencyCondition::started});
    return p;
}

World::World(config::Config cfg, std::set<std::string> stopped_by_hand)
    : config(std::move(cfg)), set(config, stopped_by_hand) {
    for (const auto& p : config.programs) machines_.emplace(p.name, ProcessMachine(Policy::from(p)));
}

std::vector<std::string> World::take() {
    auto out = std::move(log_);
    log_.clear();
    return out;
}

const Command* World::wait_done(std::uint64_t id) const {
    auto it = waits_done_.find(id);
    return it == waits_done_.end() ? nullptr : &it->second;
}

// As Supervisor::execute: a queue, so commands that cause decisions (and so
// more commands) are carried out in order, never from inside each other.
void World::run(Commands cs) {
    for (auto& c : cs) queue_.push_back(std::move(c));
    if (running_) return;
    running_ = true;
    while (!queue_.empty()) {
        Command c = std::move(queue_.front());
        queue_.pop_front();
        switch (c.type) {
            case Command::Type::start: log_.push_back("start " + c.name); send(c.name, Event::start()); break;
            case Command::Type::stop: log_.push_back("stop " + c.name); send(c.name, Event::stop()); break;
            case Command::Type::restart: log_.push_back("restart " + c.name); send(c.name, Event::restart()); break;
            case Command::Type::unhealthy:
                log_.push_back("unhealthy " + c.name);
                send(c.name, Event::unhealthy());
                break;
            case Command::Type::replace: {
                log_.push_back("replace " + c.name);
                machines_.erase(c.name);
                timers_.erase(c.name);
                machines_.emplace(c.name, ProcessMachine(Policy::from(*config.find(c.name))));
                break;
            }
            case Command::Type::remove:
                log_.push_back("remove " + c.name);
                machines_.erase(c.name);
                timers_.erase(c.name);
                break;
            case Command::Type::all_down: log_.push_back("all_down"); all_down = true; break;
            case Command::Type::define_pools: log_.push_back("define_pools"); break;
            case Command::Type::set_member:
                log_.push_back("set_member " + c.pool + "/" + c.name + " " + proxy::to_string(c.mode));
                if (auto_ack) {
                    proxy_pools[c.pool + "/" + c.name] = proxy::to_string(c.mode);
                    run(set.member_ack(c, 200, "", now));
                } else {
                    unanswered_.push_back(c);
                }
                break;
            case Command::Type::check_pools:
                log_.push_back("check_pools");
                if (proxy_answers) run(set.pools_report(proxy_pools, now));
                else run(set.pools_report(std::nullopt, now));
                break;
            case Command::Type::proxy_gone: log_.push_back("proxy_gone"); break;
            case Command::Type::wait_done:
                log_.push_back("wait_done " + std::to_string(c.id) + (c.ok ? " ok" : " failed"));
                waits_done_[c.id] = c;
                break;
            case Command::Type::count_active:
                log_.push_back("count_active " + c.name);
                if (answer_counts) run(set.active_count(c.id, c.ticket, active[c.name], now));
                break;
            case Command::Type::roll_step:
                log_.push_back("roll " + c.name + (c.name.empty() ? "" : " ") + vigil::control::to_string(c.step));
                roll_report.push_back(c);
                break;
            case Command::Type::roll_done:
                log_.push_back(std::string("roll done ") + (c.ok ? "ok" : "failed"));
                roll_report.push_back(c);
                break;
            case Command::Type::log: break;
            case Command::Type::handover_start: {
                log_.push_back("handover_start " + c.name);
                const std::string key = incoming(c.name);
                machines_.erase(key);
                machines_.emplace(key, ProcessMachine(Policy::from(*config.find(c.name))));
                send(key, Event::start());
                break;
            }
            case Command::Type::handover_swap:
                log_.push_back("handover_swap " + c.name + " " + std::to_string(c.id));
                move_machine(c.name, retiring(c.name, c.id));
                move_machine(incoming(c.name), c.name);
                break;
            case Command::Type::handover_barrier:
                log_.push_back("handover_barrier " + std::to_string(c.id));
                barriers_.push_back(c.id);
                if (auto_barrier) barriers();
                break;
            case Command::Type::retire:
                log_.push_back("retire " + std::to_string(c.id));
                send(retiring(c.name, c.id), Event::stop());
                break;
            case Command::Type::handover_abort:
                log_.push_back("handover_abort " + c.name + " " + std::to_string(c.id));
                if (c.id) {
                    move_machine(incoming(c.name), retiring(c.name, c.id));
                    send(retiring(c.name, c.id), Event::stop());
                } else {
                    machines_.erase(incoming(c.name));
                    timers_.erase(incoming(c.name));
                }
                break;
            case Command::Type::drop_retired:
                log_.push_back("drop_retired " + std::to_string(c.id));
                machines_.erase(retiring(c.name, c.id));
                timers_.erase(retiring(c.name, c.id));
                break;
        }
    }
    running_ = false;
}

void World::ack_pushes(bool ok) {
    auto pushes = std::move(unanswered_);
    unanswered_.clear();
    for (const auto& p : pushes) {
        if (ok) proxy_pools[p.pool + "/" + p.name] = proxy::to_string(p.mode);
        run(set.member_ack(p, ok ? 200 : 503, "", now));
    }
}

void World::barriers() {
    auto ids = std::move(barriers_);
    barriers_.clear();
    for (auto id : ids) run(set.pools_handed_over(id, now));
}

void World::move_machine(const std::string& from, const std::string& to) {
    auto it = machines_.find(from);
    if (it == machines_.end()) return;
    machines_.erase(to);
    machines_.emplace(to, std::move(it->second));
    machines_.erase(from);
    timers_[to] = std::move(timers_[from]);
    timers_.erase(from);
}

void World::send(const std::string& name, const Event& e) {
    auto it = machines_.find(name);
    if (it == machines_.end()) return;
    const Decision d = it->second.handle(e, now, rng_);
    apply(name, d);
}

// As ProcessRunner::execute: actions, then the listener, then the spawn.
void World::apply(const std::string& name, const Decision& d) {
    bool spawn = false, dies = false;
    for (const Action& a : d.actions) {
        switch (a.type) {
            case Action::Type::spawn: spawn = true; break;
            case Action::Type::signal: dies = a.signal == 9 || !slow.count(name); break;
            case Action::Type::arm_timer: timers_[name][a.timer] = now + a.delay; break;
            case Action::Type::cancel_timer: timers_[name].erase(a.timer); break;
        }
    }
    if (d.changed() || !d.reason.empty()) reached(name, d);
    if (spawn) send(name, Event::spawned(next_pid_++));
    if (dies) send(name, Event::exited({true, 0, 15}));
}

// As Supervisor::on_transition: the program's own process, its incoming
// one, or a retiring one, each told to the set its own way.
void World::reached(const std::string& key, const Decision& d) {
    const ProcessMachine& m = machines_.at(key);
    Change c;
    c.from = d.from;
    c.to = d.to;
    c.pid = m.pid();
    c.reason = d.reason;
    const std::string last_exit = m.last_exit() ? m.last_exit()->describe() : "";
    c.last_exit = last_exit;
    if (key.back() == '+') return run(set.incoming_observed(key.substr(0, key.size() - 1), c, now));
    if (const auto tilde = key.rfind('~'); tilde != std::string::npos)
        return run(set.retiring_observed(std::stoull(key.substr(tilde + 1)), c, now));
    run(set.observed(key, c, now));
}

void World::exit(const std::string& name, int code) { send(name, Event::exited({false, code, 0})); }

void World::health(const std::string& name, HealthStatus h) { run(set.health(name, h, now)); }

void World::advance(Duration d) {
    const TimePoint end = now + d;
    for (;;) {
        // The earliest of the machines' timers and the set's deadline.
        std::optional<TimePoint> next = set.next_deadline();
        std::string who;
        Timer which{};
        for (const auto& [name, ts] : timers_)
            for (const auto& [t, at] : ts)
                if (!next || at < *next) {
                    next = at;
                    who = name;
                    which = t;
                }
        if (!next || *next > end) break;
        now = std::max(now, *next);
        if (who.empty()) {
            run(set.tick(now));
        } else {
            timers_[who].erase(which);
            send(who, Event::timer_fired(which));
        }
    }
    now = end;
}

}  // namespace vigil::core::testing
