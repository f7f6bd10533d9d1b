#include "supervisor/core/process_machine.hpp"

#include <algorithm>
#include <cstring>

#include "config/units.hpp"
#include "supervisor/core/duration_text.hpp"

namespace vigil::core {
namespace {

constexpr int kSigKill = 9;

Action arm(Timer t, Duration d) { return {Action::Type::arm_timer, 0, true, t, d}; }
Action cancel(Timer t) { return {Action::Type::cancel_timer, 0, true, t, Duration{0}}; }
Action signal_to(int sig, bool group) { return {Action::Type::signal, sig, group, Timer::start_secs, Duration{0}}; }

}  // namespace

std::string_view state_name(State s) noexcept {
    switch (s) {
        case State::stopped: return "STOPPED";
        case State::starting: return "STARTING";
        case State::running: return "RUNNING";
        case State::backoff: return "BACKOFF";
        case State::stopping: return "STOPPING";
        case State::exited: return "EXITED";
        case State::fatal: return "FATAL";
    }
    return "UNKNOWN";
}

bool is_down(State s) noexcept {
    return s == State::stopped || s == State::backoff || s == State::exited || s == State::fatal;
}

std::string ExitStatus::describe() const {
    // A liveness restart ends in the stop signal like any stop: without the
    // cause, "killed by SIGTERM" reads as if someone else had killed it.
    const std::string cause = liveness ? "failed its liveness check, " : "";
    if (!signaled) return cause + "exit status " + std::to_string(code);
    if (oom) return "killed by the OOM killer (memory_limit reached)";
    return cause + "killed by SIG" + std::string(config::signal_name(signal));
}

Policy Policy::from(const config::Program& p) {
    Policy r;
    r.autorestart = p.autorestart;
    r.exitcodes = p.exitcodes;
    r.startsecs = p.startsecs;
    r.startretries = p.startretries;
    r.backoff = p.backoff;
    r.backoff_reset = p.backoff_reset;
    r.stopsignal = p.stopsignal;
    r.stopwaitsecs = p.stopwaitsecs;
    r.stopasgroup = p.stopasgroup;
    r.killasgroup = p.killasgroup;
    r.notify = p.notify;
    return r;
}

ProcessMachine::ProcessMachine(Policy policy) noexcept
    : policy_(std::move(policy)), backoff_(policy_.backoff, policy_.backoff_reset) {}

Decision ProcessMachine::handle(const Event& e, TimePoint now, Rng& rng) noexcept {
    Decision d;
    d.from = state_;
    switch (state_) {
        case State::starting: d = on_starting(e, now, rng, std::move(d)); break;
        case State::running: d = on_running(e, now, rng, std::move(d)); break;
        case State::backoff: d = on_backoff(e, now, std::move(d)); break;
        case State::stopping: d = on_stopping(e, now, rng, std::move(d)); break;
        case State::stopped:
        case State::exited:
        case State::fatal: d = on_down(e, now, std::move(d)); break;
    }
    d.to = state_;
    return d;
}

MachineSnapshot ProcessMachine::snapshot() const noexcept {
    return {state_, pid_, started_at_, restarts_, failed_starts_, start_pending_, restart_after_stop_,
            last_exit_, last_delay_, backoff_.attempt()};
}

void ProcessMachine::restore(const MachineSnapshot& s) noexcept {
    state_ = s.state;
    pid_ = s.pid;
    started_at_ = s.started_at;
    restarts_ = s.restarts;
    failed_starts_ = s.failed_starts;
    start_pending_ = s.start_pending;
    restart_after_stop_ = s.restart_after_stop;
    last_exit_ = s.last_exit;
    last_delay_ = s.last_delay;
    backoff_.set_attempt(s.backoff_attempt);
}

// --- transitions -----------------------------------------------------------

Decision ProcessMachine::on_starting(const Event& e, TimePoint now, Rng& rng, Decision d) noexcept {
    switch (e.type) {
        case Event::Type::start: break;  // already on its way up
        case Event::Type::stop: begin_stop(d, false); break;
        case Event::Type::restart: begin_stop(d, true); break;
        case Event::Type::unhealthy: begin_liveness_stop(d); break;
        case Event::Type::spawned:
            pid_ = e.pid;
            started_at_ = now;
            if (policy_.notify) {
                d.reason = "pid " + std::to_string(pid_) + " spawned, waiting for READY=1";
            } else if (policy_.startsecs.count() == 0) {
                state_ = State::running;
                failed_starts_ = 0;
                d.reason = "pid " + std::to_string(pid_) + " started (startsecs=0)";
            } else {
                d.actions.push(arm(Timer::start_secs, policy_.startsecs));
                d.reason = "pid " + std::to_string(pid_) + " spawned";
            }
            break;
        case Event::Type::spawn_failed:
            pid_ = 0;
            retry_or_give_up(d, now, rng, std::string("spawn failed: ") + std::strerror(e.error));
            break;
        case Event::Type::exited:
            pid_ = 0;
            last_exit_ = e.exit;
            d.actions.push(cancel(Timer::start_secs));
            retry_or_give_up(d, now, rng,
                             "exited too quickly (" + e.exit.describe() + " within startsecs=" +
                                 duration_text(policy_.startsecs) + ")");
            break;
        case Event::Type::timer:
            if (e.timer == Timer::start_secs && !policy_.notify) {
                state_ = State::running;
                failed_starts_ = 0;
                d.reason = "up for startsecs=" + duration_text(policy_.startsecs);
            }
            break;
        case Event::Type::ready:
            if (policy_.notify && pid_ != 0) {
                state_ = State::running;
                failed_starts_ = 0;
                d.reason = "READY=1";
            }
            break;
    }
    return d;
}

Decision ProcessMachine::on_running(const Event& e, TimePoint now, Rng& rng, Decision d) noexcept {
    switch (e.type) {
        case Event::Type::start: break;
        case Event::Type::stop: begin_stop(d, false); break;
        case Event::Type::restart: begin_stop(d, true); break;
        case Event::Type::unhealthy: begin_liveness_stop(d); break;
        case Event::Type::exited: {
            pid_ = 0;
            last_exit_ = e.exit;
            backoff_.run_ended(std::chrono::duration_cast<Duration>(now - started_at_));
            const bool restart = policy_.autorestart == config::AutoRestart::always ||
                                 (policy_.autorestart == config::AutoRestart::unexpected && !expected(e.exit));
            if (restart) {
                schedule_restart(d, rng, e.exit.describe());
            } else {
                state_ = State::exited;
                d.reason = e.exit.describe() + (expected(e.exit) ? " (expected)" : " (unexpected)") +
                           ", autorestart leaves it down";
            }
            break;
        }
        case Event::Type::spawned:
        case Event::Type::spawn_failed:
        case Event::Type::timer:
        case Event::Type::ready: break;  // stale, or a repeated READY=1 (after a reload)
    }
    return d;
}

Decision ProcessMachine::on_backoff(const Event& e, TimePoint, Decision d) noexcept {
    switch (e.type) {
        case Event::Type::start:
        case Event::Type::restart:
            // An operator overrides the wait, as with supervisorctl start.
            d.actions.push(cancel(Timer::backoff));
            backoff_.reset();
            failed_starts_ = 0;
            spawn(d, "start requested during backoff");
            break;
        case Event::Type::stop:
            d.actions.push(cancel(Timer::backoff));
            state_ = State::stopped;
            d.reason = "stop requested during backoff";
            break;
        case Event::Type::timer:
            if (e.timer == Timer::backoff) {
                ++restarts_;
                spawn(d, "backoff of " + duration_text(last_delay_) + " elapsed");
            }
            break;
        case Event::Type::spawned:
        case Event::Type::spawn_failed:
        case Event::Type::exited:
        case Event::Type::unhealthy:
        case Event::Type::ready: break;  // no process of ours exists in BACKOFF
    }
    return d;
}

Decision ProcessMachine::on_stopping(const Event& e, TimePoint now, Rng& rng, Decision d) noexcept {
    switch (e.type) {
        case Event::Type::start:
        case Event::Type::restart: start_pending_ = true; break;
        case Event::Type::stop:
            start_pending_ = false;
            restart_after_stop_ = false;
            break;
        case Event::Type::unhealthy:
        case Event::Type::ready: break;  // already going down
        case Event::Type::exited:
            pid_ = 0;
            last_exit_ = e.exit;
            d.actions.push(cancel(Timer::stop_wait));
            if (restart_after_stop_) {
                restart_after_stop_ = false;
                last_exit_->liveness = true;
                start_pending_ = false;
                backoff_.run_ended(std::chrono::duration_cast<Duration>(now - started_at_));
                schedule_restart(d, rng, "stopped after failing its liveness check (" + e.exit.describe() + ")");
            } else if (start_pending_) {
                start_pending_ = false;
                backoff_.reset();
                failed_starts_ = 0;
                spawn(d, "stopped (" + e.exit.describe() + "), starting again");
            } else {
                state_ = State::stopped;
                d.reason = "stopped (" + e.exit.describe() + ")";
            }
            break;
        case Event::Type::timer:
            if (e.timer == Timer::stop_wait && pid_ != 0) {
                d.actions.push(signal_to(kSigKill, policy_.killasgroup));
                d.reason = "still alive " + duration_text(policy_.stopwaitsecs) + " after SIG" +
                           std::string(config::signal_name(policy_.stopsignal)) + ": sending SIGKILL";
            }
            break;
        case Event::Type::spawned:
        case Event::Type::spawn_failed: break;
    }
    return d;
}

Decision ProcessMachine::on_down(const Event& e, TimePoint, Decision d) noexcept {
    switch (e.type) {
        case Event::Type::start:
        case Event::Type::restart:
            backoff_.reset();
            failed_starts_ = 0;
            spawn(d, "start requested");
            break;
        // Nothing runs: a stop changes nothing (EXITED/FATAL keep telling how
        // it ended), and exits, spawn results and timers are stale.
        case Event::Type::stop:
        case Event::Type::spawned:
        case Event::Type::spawn_failed:
        case Event::Type::exited:
        case Event::Type::timer:
        case Event::Type::unhealthy:
        case Event::Type::ready: break;
    }
    return d;
}

// --- helpers ---------------------------------------------------------------

void ProcessMachine::spawn(Decision& d, std::string reason) noexcept {
    state_ = State::starting;
    d.actions.push({Action::Type::spawn});
    d.reason = std::move(reason);
}

void ProcessMachine::begin_stop(Decision& d, bool then_start) noexcept {
    start_pending_ = then_start;
    restart_after_stop_ = false;
    d.actions.push(cancel(Timer::start_secs));
    if (pid_ == 0) {  // defensive: nothing to signal
        state_ = State::stopped;
        d.reason = "stop requested, no process";
        return;
    }
    state_ = State::stopping;
    d.actions.push(signal_to(policy_.stopsignal, policy_.stopasgroup));
    d.actions.push(arm(Timer::stop_wait, policy_.stopwaitsecs));
    d.reason = std::string(then_start ? "restart" : "stop") + " requested: sending SIG" +
               std::string(config::signal_name(policy_.stopsignal));
}

void ProcessMachine::begin_liveness_stop(Decision& d) noexcept {
    begin_stop(d, false);
    restart_after_stop_ = state_ == State::stopping;
    if (restart_after_stop_) d.reason = "failed its liveness check: sending SIG" +
                                        std::string(config::signal_name(policy_.stopsignal));
}

void ProcessMachine::retry_or_give_up(Decision& d, TimePoint, Rng& rng, std::string why) noexcept {
    ++failed_starts_;
    if (policy_.startretries && failed_starts_ > *policy_.startretries) {
        state_ = State::fatal;
        d.reason = why + "; gave up after " + std::to_string(failed_starts_) + " failed starts (startretries=" +
                   std::to_string(*policy_.startretries) + ")";
        return;
    }
    schedule_restart(d, rng, why);
}

void ProcessMachine::schedule_restart(Decision& d, Rng& rng, std::string why) noexcept {
    last_delay_ = backoff_.next(rng);
    if (last_delay_.count() == 0) {
        ++restarts_;
        spawn(d, why + "; restarting at once");
        return;
    }
    state_ = State::backoff;
    d.actions.push(arm(Timer::backoff, last_delay_));
    d.reason = why + "; restarting in " + duration_text(last_delay_);
}

bool ProcessMachine::expected(const ExitStatus& s) const noexcept {
    if (s.signaled) return false;
    return std::find(policy_.exitcodes.begin(), policy_.exitcodes.end(), s.code) != policy_.exitcodes.end();
}

}  // namespace vigil::core
