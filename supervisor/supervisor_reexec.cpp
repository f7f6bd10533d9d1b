// The Supervisor's part of vigild's re-exec (supervisor/reexec.hpp): what
// refuses it, what is carried, and taking it over in the new image.
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {

std::string Supervisor::carry_refusal() const {
    if (std::string why = set_.carry_refusal(); !why.empty()) return why;
    if (!waits_.empty()) return "a client is waiting for programs to reach a state; try again once it is answered";
    for (const auto& name : order_)
        if (std::string why = runners_.at(name)->carry_refusal(); !why.empty()) return why;
    return "";
}

reexec::State Supervisor::carry() {
    reexec::State s;
    s.sockets = sockets_.carry();
    for (const auto& name : order_) {
        reexec::CarriedProcess c = runners_.at(name)->carry();
        c.intent = set_.intent(name);
        c.set_health = set_.health_of(name);
        s.processes.push_back(std::move(c));
    }
    return s;
}

std::size_t Supervisor::resume(const reexec::State& carried) {
    std::map<std::string, core::ProcessSet::Carried> view;
    for (const auto& c : carried.processes) {
        ProcessRunner* r = find(c.name);
        if (!r) {
            // Gone from the config file between the check and the exec: its
            // process has no runner to own it, so it ends like a leftover
            // (the reaper collects it as an orphan).
            if (c.machine.pid > 0) {
                spdlog::warn("{}: no longer in the config after the re-exec: killing pid {}", c.name, c.machine.pid);
                ::kill(-c.machine.pid, SIGKILL);
                ::kill(c.machine.pid, SIGKILL);
            }
            for (int fd : {c.pidfd, c.notify_fd, c.pipes[0].read_fd, c.pipes[0].write_fd, c.pipes[1].read_fd,
                           c.pipes[1].write_fd})
                if (fd >= 0) ::close(fd);
            continue;
        }
        r->adopt(c);
        // The old image's last write of <state_dir>/pids may still have been
        // pending: this one is the truth for a later crash's leftovers.
        if (r->pid() > 0) pids_.record(c.name, r->pid());
        else pids_.forget(c.name);
        recorded_pid_[c.name] = r->pid();
        view[c.name] = {c.intent, r->state(), r->pid(), c.set_health};
    }
    core::Commands cs = set_.restore(view, core::Clock::now());
    // Added to the file between the check and the exec: started as at start-up.
    for (const auto& name : order_) {
        if (view.count(name)) continue;
        const config::Program* p = config_.find(name);
        if (p && p->autostart && !intent_.stopped_by_hand(name)) {
            auto more = set_.start(name, core::Clock::now());
            cs.insert(cs.end(), more.begin(), more.end());
        }
    }
    execute(std::move(cs));
    // Exits during the exec: a carried child's pidfd is readable already
    // (its handler reaps it); a true orphan is collected here.
    reap_children();
    return view.size();
}

}  // namespace vigil::supervisor
