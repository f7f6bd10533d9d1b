// The proxy's planned restarts as handovers, and the proxy's place in the
// shutdown order. A restart of a running proxy whose listening sockets vigild
// holds never stops it first: a second process of the program (the incoming)
// starts on the same sockets, so both accept from one queue for a moment;
// once the incoming is RUNNING (READY=1) it becomes the program's process and
// gets every pool (a resync, as for any new proxy pid), and only when the
// proxy executor has delivered those does the old process (now retiring) get
// its stop signal: stop accepting, finish in-flight requests, exit; SIGKILL
// after stopwaitsecs, as for any stop. One process per machine stays the
// rule: the incoming and the retiring ones have machines of their own,
// which the Supervisor keeps beside the program's runner.
#include "supervisor/core/duration_text.hpp"
#include "supervisor/core/process_set.hpp"

namespace vigil::core {
namespace {

Command make(Command::Type t, const std::string& name, std::string reason, std::uint64_t id = 0) {
    Command c{t};
    c.name = name;
    c.reason = std::move(reason);
    c.id = id;
    return c;
}

std::string pid_text(int pid) { return "pid " + std::to_string(pid); }

}  // namespace

// Only a running proxy hands over: one that is down or on its way up has no
// connection to keep, and its plain restart is as quick.
bool ProcessSet::can_hand_over(const std::string& name) const noexcept {
    if (name != proxy_name_ || !proxy_hands_over_ || shutting_down_) return false;
    auto it = procs_.find(name);
    return it != procs_.end() && it->second.state == State::running && it->second.pid > 0 &&
           it->second.intent != Intent::replacing;
}

void ProcessSet::begin_handover(const std::string& why, TimePoint now, Commands& out) noexcept {
    if (handover_) {
        handover_->again = true;
        out.push_back(make(Command::Type::log, proxy_name_,
                           why + " during a handover: another handover follows once this one is done"));
        return;
    }
    handover_ = Handover{0, now + kHandoverReady + proxy_startsecs_, false};
    out.push_back(make(Command::Type::handover_start, proxy_name_,
                       why + ": starting a new proxy beside " + pid_text(procs_[proxy_name_].pid) +
                           " on the same sockets (handover)"));
}

void ProcessSet::abort_handover(const std::string& why, int incoming_pid, Commands& out) noexcept {
    const int serving = procs_[proxy_name_].pid;
    std::uint64_t id = 0;
    if (incoming_pid > 0) {
        id = next_retiring_++;
        retiring_[id] = Retiring{incoming_pid, State::starting, true};
    }
    const std::string msg = "handover given up: " + why +
                            (serving > 0 && !shutting_down_ ? "; " + pid_text(serving) + " keeps serving" : "");
    out.push_back(make(Command::Type::handover_abort, proxy_name_, msg, id));
    handover_.reset();
    fail_restart_waits(proxy_name_, msg, out);
}

void ProcessSet::swap_in(const Change& c, TimePoint now, Commands& out) noexcept {
    Proc& p = procs_[proxy_name_];
    const int old_pid = p.pid;
    const std::uint64_t id = next_retiring_++;
    out.push_back(make(Command::Type::handover_swap, proxy_name_,
                       pid_text(c.pid) + " is ready and takes over from " + pid_text(old_pid), id));
    if (old_pid > 0) retiring_[id] = Retiring{old_pid, p.state, false};
    else out.push_back(make(Command::Type::drop_retired, proxy_name_, "", id));  // it died meanwhile
    const bool again = handover_->again;
    handover_.reset();
    p.state = c.to;
    p.pid = c.pid;
    p.health.reset();  // the Supervisor tells the new process's health next
    p.spawn_error.clear();
    p.exit_reason.clear();
    Change taken = c;
    taken.handed_over = true;
    on_proxy_change(taken, now, out);  // a new pid: every pool to it
    if (old_pid > 0) out.push_back(make(Command::Type::handover_barrier, proxy_name_, "", id));
    check_waits(proxy_name_, &taken, out);
    if (again) begin_handover("asked for again", now, out);
}

void ProcessSet::retire(std::uint64_t id, std::string why, Commands& out) noexcept {
    auto it = retiring_.find(id);
    if (it == retiring_.end() || it->second.told) return;
    it->second.told = true;
    out.push_back(make(Command::Type::retire, proxy_name_, pid_text(it->second.pid) + ": " + why, id));
}

Commands ProcessSet::incoming_observed(const std::string& name, const Change& c, TimePoint now) noexcept {
    Commands out;
    if (!handover_ || name != proxy_name_) return out;
    // Its process ended (or never came) on the way up, even when its machine
    // would spawn the next one at once.
    const bool lost = c.pid == 0 && (handover_->pid > 0 || c.from == State::starting);
    if (c.pid > 0) handover_->pid = c.pid;
    if (c.to == State::running) {
        swap_in(c, now, out);
    } else if (c.to != State::starting || lost) {
        std::string why = "the new proxy did not start (" + std::string(c.reason);
        if (!c.spawn_error.empty()) why += ": " + std::string(c.spawn_error);
        if (!c.exit_reason.empty()) why += ": " + std::string(c.exit_reason);
        abort_handover(why + ")", c.pid, out);
    }
    settle(out);
    return out;
}

Commands ProcessSet::retiring_observed(std::uint64_t id, const Change& c, TimePoint) noexcept {
    Commands out;
    auto it = retiring_.find(id);
    if (it == retiring_.end()) return out;
    it->second.state = c.to;
    it->second.pid = c.pid;
    if (stays_down(c.to)) {
        retiring_.erase(it);
        out.push_back(make(Command::Type::drop_retired, proxy_name_, "", id));
    } else if (c.to == State::backoff || (c.to == State::starting && c.from != State::starting)) {
        // It ended before it was told to, and its machine would start it
        // again: nothing of it is wanted any more.
        it->second.told = false;
        retire(id, "ended before its drain, not restarted", out);
    }
    settle(out);
    return out;
}

Commands ProcessSet::pools_handed_over(std::uint64_t id, TimePoint) noexcept {
    Commands out;
    retire(id, "the new proxy has every pool: stop accepting and drain", out);
    return out;
}

void ProcessSet::handover_tick(TimePoint now, Commands& out) noexcept {
    if (!handover_ || now < handover_->deadline) return;
    abort_handover("the new proxy was not ready within " +
                       duration_text(std::chrono::duration_cast<Duration>(kHandoverReady + proxy_startsecs_)),
                   handover_->pid, out);
}

// While true, shutdown leaves pool members running. Not when the proxy itself
// waits for a program that depends on it (that program may be a member).
bool ProcessSet::proxy_draining() const noexcept {
    if (!retiring_.empty()) return true;
    auto it = procs_.find(proxy_name_);
    if (proxy_name_.empty() || it == procs_.end() || stays_down(it->second.state)) return false;
    return graph_
        .up_dependents(proxy_name_,
                       [this](const std::string& n) {
                           auto d = procs_.find(n);
                           return d == procs_.end() || stays_down(d->second.state);
                       })
        .empty();
}

}  // namespace vigil::core
