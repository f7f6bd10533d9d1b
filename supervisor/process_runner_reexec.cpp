// One runner across vigild's re-exec (supervisor/reexec.hpp): the old image
// describes what it holds, the new one takes it over. The process is a
// child of the same pid on both sides, so its pidfd, its output pipes and
// its notify socket are simply kept open through the exec: an exit during
// the exec leaves the pidfd readable (reaped once the new image is up), and
// output written meanwhile waits in the pipe.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "supervisor/process_runner.hpp"
#include "supervisor/reexec_state.hpp"

namespace vigil::supervisor {

std::string ProcessRunner::carry_refusal() const {
    // A listener's protocol state (READY/BUSY, the event it is handling)
    // lives in the event bus, which is not carried.
    if (!program_.listener_pool.empty() && machine_.pid() > 0)
        return name() + " is an event listener, whose protocol state is not carried over; stop it first";
    return "";
}

reexec::CarriedProcess ProcessRunner::carry() {
    reexec::CarriedProcess c;
    c.name = name();
    c.machine = machine_.snapshot();
    c.timers = timer_due_;
    c.pidfd = pidfd_ ? pidfd_->native_handle() : -1;
    for (int i = 0; i < 2; ++i) {
        if (!pipes_[i].reader) continue;
        c.pipes[i].read_fd = pipes_[i].reader->native_handle();
        c.pipes[i].write_fd = pipes_[i].write_fd;
    }
    c.notify_fd = notify_ ? notify_->fd() : -1;
    c.notify_status = notify_status_;
    c.spawn_error = spawn_error_;
    c.exit_reason = exit_reason_;
    c.oom_kills = oom_kills_;
    c.oom_kills_at_spawn = oom_kills_at_spawn_;
    if (monitor_) {
        c.health.running = monitor_->running();
        c.health.tracker = monitor_->tracker().snapshot();
        c.health.passed = monitor_->checks_passed();
        c.health.failed = monitor_->checks_failed();
        c.health.history = monitor_->history();
    }
    c.health.latency_buckets.assign(probe_latency_.buckets.begin(), probe_latency_.buckets.end());
    c.health.latency_count = probe_latency_.count;
    c.health.latency_sum = probe_latency_.sum;
    return c;
}

void ProcessRunner::adopt(const reexec::CarriedProcess& c) {
    machine_.restore(c.machine);
    notify_status_ = c.notify_status;
    spawn_error_ = c.spawn_error;
    exit_reason_ = c.exit_reason;
    oom_kills_ = c.oom_kills;
    oom_kills_at_spawn_ = c.oom_kills_at_spawn;
    for (int i = 0; i < 2; ++i)
        if (c.pipes[i].read_fd >= 0) attach_pipe(i, c.pipes[i].read_fd, c.pipes[i].write_fd);
    if (c.pidfd >= 0) {
        pidfd_.emplace(io_, c.pidfd);
        children_.add(machine_.pid(), [this] { return try_reap(); });
        watch_exit();
    }
    // Each timer fires when it would have in the old image (at once if that
    // moment passed during the exec): a BACKOFF keeps its remaining delay.
    const auto now = core::Clock::now();
    for (std::size_t i = 0; i < core::kTimerCount; ++i)
        if (c.timers[i])
            arm(static_cast<core::Timer>(i),
                std::max(core::Duration{0}, std::chrono::ceil<core::Duration>(*c.timers[i] - now)));
    if (monitor_ && c.health.running && machine_.pid() > 0)
        monitor_->resume(c.health.tracker, c.health.passed, c.health.failed, c.health.history);
    for (std::size_t i = 0; i < probe_latency_.buckets.size() && i < c.health.latency_buckets.size(); ++i)
        probe_latency_.buckets[i] = c.health.latency_buckets[i];
    probe_latency_.count = c.health.latency_count;
    probe_latency_.sum = c.health.latency_sum;
    // A watchdog interval starts over: the child's next WATCHDOG=1 is due
    // within it anyway.
    sync_watchdog();
    spdlog::debug("{}: carried over in {} (pid {})", name(), core::state_name(machine_.state()), machine_.pid());
}

}  // namespace vigil::supervisor
