// The life of one supervised process as a pure state machine: events in
// (operator requests, spawn results, exits, timer expiries), a new state and
// a short list of actions out (spawn, signal, arm or cancel a timer). No
// syscalls, no sleeping, no exceptions: the I/O layer (process_runner) turns
// OS events into Events and carries the Actions out.
//
// States are supervisord's, so its users read `status` at a glance:
//
//   STOPPED   not running, not wanted (initial state; after a stop)
//   STARTING  spawned, not yet up for `startsecs` (or, with notify, not yet READY=1)
//   RUNNING   up for at least `startsecs`
//   BACKOFF   waiting out a restart delay (after a failed start, or a crash)
//   STOPPING  stop signal sent, waiting up to `stopwaitsecs`, then SIGKILL
//   EXITED    ended on its own and policy says leave it (autorestart)
//   FATAL     failed to start more than `startretries` times in a row
//
// Every state × event pair is decided in handle(): most pairs that make no
// sense (an exit while STOPPED, a stale timer) are ignored on purpose, which
// the unit tests check pair by pair.
//
// Unlike supervisord, a crash after RUNNING is also delayed by the backoff
// (supervisord restarts those at once, a busy loop for a program that dies
// right after startsecs). The backoff sequence restarts only after a run of
// `backoff_reset`.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "config/model.hpp"
#include "supervisor/core/backoff.hpp"
#include "supervisor/core/clock.hpp"

namespace vigil::core {

enum class State { stopped, starting, running, backoff, stopping, exited, fatal };
std::string_view state_name(State s) noexcept;  // "RUNNING"
// True where no process of ours exists (nothing to signal, nothing to reap).
bool is_down(State s) noexcept;

enum class Timer { start_secs, backoff, stop_wait };
inline constexpr std::size_t kTimerCount = 3;

// How a process ended, as waitid() reports it.
struct ExitStatus {
    bool signaled = false;
    int code = 0;    // exit code when !signaled
    int signal = 0;  // terminating signal when signaled
    bool oom = false;  // the kernel's OOM killer ended it (cgroup memory limit)
    bool liveness = false;  // vigild stopped it because its liveness (health) check failed
    std::string describe() const;  // "exit status 3", "killed by SIGKILL"
    bool operator==(const ExitStatus&) const = default;
};

struct Event {
    enum class Type {
        start,         // operator or autostart wants it running
        stop,          // operator or shutdown wants it stopped
        restart,       // stop if running, then start
        spawned,       // fork/exec succeeded: pid
        spawn_failed,  // fork/exec failed: error (errno)
        exited,        // the process ended: exit
        timer,         // a timer armed earlier fired: timer
        unhealthy,     // a liveness check failed: stop it, restart through the backoff
        ready,         // the child said READY=1 (sd_notify)
    };
    Type type;
    int pid = 0;
    int error = 0;
    ExitStatus exit;
    Timer timer = Timer::start_secs;

    static Event start() { return {Type::start}; }
    static Event stop() { return {Type::stop}; }
    static Event restart() { return {Type::restart}; }
    static Event spawned(int pid) { Event e{Type::spawned}; e.pid = pid; return e; }
    static Event spawn_failed(int err) { Event e{Type::spawn_failed}; e.error = err; return e; }
    static Event exited(ExitStatus s) { Event e{Type::exited}; e.exit = s; return e; }
    static Event timer_fired(Timer t) { Event e{Type::timer}; e.timer = t; return e; }
    static Event unhealthy() { return {Type::unhealthy}; }
    static Event ready() { return {Type::ready}; }
};

struct Action {
    enum class Type { spawn, signal, arm_timer, cancel_timer };
    Type type;
    int signal = 0;
    bool to_group = true;  // signal the whole process group
    Timer timer = Timer::start_secs;
    Duration delay{0};
    bool operator==(const Action&) const = default;
};

// A decision never needs more than a handful of actions; a fixed array keeps
// handle() allocation-free apart from the reason text.
class Actions {
public:
    void push(const Action& a) noexcept { if (size_ < items_.size()) items_[size_++] = a; }
    const Action* begin() const noexcept { return items_.data(); }
    const Action* end() const noexcept { return items_.data() + size_; }
    std::size_t size() const noexcept { return size_; }
    const Action& operator[](std::size_t i) const noexcept { return items_[i]; }

private:
    std::array<Action, 6> items_{};
    std::size_t size_ = 0;
};

struct Decision {
    State from = State::stopped;
    State to = State::stopped;
    Actions actions;
    std::string reason;  // one line for the log: why the state changed
    bool changed() const noexcept { return from != to; }
};

// The policy a machine needs from its program's config.
struct Policy {
    config::AutoRestart autorestart = config::AutoRestart::always;
    std::vector<int> exitcodes{0};
    Duration startsecs{1000};
    std::optional<int> startretries;  // nullopt = unlimited
    config::Backoff backoff;
    Duration backoff_reset{60000};
    int stopsignal = 15;
    Duration stopwaitsecs{10000};
    bool stopasgroup = true;
    bool killasgroup = true;
    bool notify = false;  // RUNNING on READY=1 instead of after startsecs

    static Policy from(const config::Program& p);
};

// Everything a machine knows, so that a re-executed vigild carries on from
// exactly here (supervisor/reexec_state.hpp): steady-clock times stay valid
// across an exec, the process is the same.
struct MachineSnapshot {
    State state = State::stopped;
    int pid = 0;
    TimePoint started_at{};
    int restarts = 0;
    int failed_starts = 0;
    bool start_pending = false;
    bool restart_after_stop = false;
    std::optional<ExitStatus> last_exit;
    Duration last_delay{0};
    int backoff_attempt = 0;
};

class ProcessMachine {
public:
    explicit ProcessMachine(Policy policy) noexcept;

    Decision handle(const Event& e, TimePoint now, Rng& rng) noexcept;

    State state() const noexcept { return state_; }
    int pid() const noexcept { return pid_; }
    TimePoint started_at() const noexcept { return started_at_; }
    int restarts() const noexcept { return restarts_; }      // automatic restarts so far
    int failed_starts() const noexcept { return failed_starts_; }  // in a row
    std::optional<ExitStatus> last_exit() const noexcept { return last_exit_; }
    // Going down because its liveness check failed (and coming back through the backoff).
    bool liveness_stop() const noexcept { return restart_after_stop_; }
    Duration last_delay() const noexcept { return last_delay_; }
    // True between a restart/start request in STOPPING and the exit it waits for.
    bool start_pending() const noexcept { return start_pending_; }
    const Policy& policy() const noexcept { return policy_; }

    MachineSnapshot snapshot() const noexcept;
    // Takes the snapshot's state as is, with no action: the caller re-arms
    // what was armed (process_runner_reexec.cpp).
    void restore(const MachineSnapshot& s) noexcept;

private:
    Decision on_starting(const Event& e, TimePoint now, Rng& rng, Decision d) noexcept;
    Decision on_running(const Event& e, TimePoint now, Rng& rng, Decision d) noexcept;
    Decision on_backoff(const Event& e, TimePoint now, Decision d) noexcept;
    Decision on_stopping(const Event& e, TimePoint now, Rng& rng, Decision d) noexcept;
    Decision on_down(const Event& e, TimePoint now, Decision d) noexcept;  // STOPPED, EXITED, FATAL

    void spawn(Decision& d, std::string reason) noexcept;
    void begin_stop(Decision& d, bool then_start) noexcept;
    void begin_liveness_stop(Decision& d) noexcept;
    void retry_or_give_up(Decision& d, TimePoint now, Rng& rng, std::string why) noexcept;
    void schedule_restart(Decision& d, Rng& rng, std::string why) noexcept;
    bool expected(const ExitStatus& s) const noexcept;

    Policy policy_;
    Backoff backoff_;
    State state_ = State::stopped;
    int pid_ = 0;
    TimePoint started_at_{};
    int restarts_ = 0;
    int failed_starts_ = 0;
    bool start_pending_ = false;
    bool restart_after_stop_ = false;  // a liveness stop: the exit goes through the backoff
    std::optional<ExitStatus> last_exit_;
    Duration last_delay_{0};
};

}  // namespace vigil::core
