// The I/O side of one supervised process: it owns the process's pure state
// machine and carries out its actions on the event loop — spawning, timers,
// signals to the process group, the pidfd that reports the exit, and the
// pipes whose output lands in the program's log files. It decides nothing
// itself.
#pragma once

#include <sys/types.h>

#include <array>
#include <deque>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/model.hpp"
#include "supervisor/health/health_monitor.hpp"
#include "supervisor/core/process_machine.hpp"
#include "supervisor/core/exit_reason.hpp"
#include "supervisor/cgroup.hpp"
#include "supervisor/child_table.hpp"
#include "supervisor/core/health_tracker.hpp"
#include "supervisor/log_file.hpp"
#include "supervisor/output_filters.hpp"
#include "supervisor/notify_socket.hpp"

namespace vigil::supervisor {

class HeldSockets;
namespace reexec {
struct CarriedProcess;
}

class ProcessRunner : public std::enable_shared_from_this<ProcessRunner> {
public:
    // Told of every decision that changed the state (after its actions ran).
    class Listener {
    public:
        virtual ~Listener() = default;
        virtual void on_transition(ProcessRunner& runner, const core::Decision& d) = 0;
        // The health status changed (checks run only while a process exists).
        virtual void on_health(ProcessRunner& runner, core::HealthStatus from, core::HealthStatus to,
                               const std::string& detail) = 0;
    };

    // `children`: vigild's child table, where each spawned pid is
    // registered so the reaper hands its exit back here. `sockets` holds
    // what p.sockets lists (supervisor/held_sockets.hpp); may be null for a
    // program without sockets. `carried`: what a re-executed vigild took
    // over for this program (its notify socket is the old one); adopt() it
    // once the runner is owned by a shared_ptr. `instance`: empty for the
    // program's own runner; a tag ("h3") for a second one beside it (a
    // proxy handover), which gets a notify socket and cgroup of its own.
    ProcessRunner(boost::asio::io_context& io, config::Program program, const config::Daemon& daemon, core::Rng& rng,
                  ChildTable& children, Listener& listener, HeldSockets* sockets = nullptr,
                  const reexec::CarriedProcess* carried = nullptr, std::string instance = {});
    ~ProcessRunner();

    void send(const core::Event& e);
    // Reaps the process if it has exited (used when SIGCHLD finds it first).
    // Returns false when it is still running.
    bool try_reap();
    // Cancels every pending operation so the runner can be dropped.
    void close();

    // vigild's re-exec (process_runner_reexec.cpp): why this runner cannot
    // be carried over now ("" when it can), what the new image needs (the
    // descriptors named in it must survive the exec), and taking it over
    // there: the same process, pipes, timers and health checks, nothing
    // restarted, nothing reported as a change.
    std::string carry_refusal() const;
    reexec::CarriedProcess carry();
    void adopt(const reexec::CarriedProcess& c);

    const std::string& name() const { return program_.name; }
    // KEY=value pairs added to the environment of every later spawn (a
    // replicated data store's role, supervisor/replication_manager.hpp).
    void set_extra_env(std::vector<std::string> env) { extra_env_ = std::move(env); }
    const std::string& instance() const { return instance_; }
    const config::Program& program() const { return program_; }
    // Closes and opens this program's log files again (`vigilctl reopen`,
    // SIGUSR2); returns how many.
    int reopen_logs();
    const core::ProcessMachine& machine() const { return machine_; }
    core::State state() const { return machine_.state(); }
    pid_t pid() const { return machine_.pid(); }
    // Live output for `vigilctl tail -f`: fd 1 or 2 and the bytes read.
    using OutputObserver = std::function<void(int fd, std::string_view data)>;
    std::uint64_t subscribe_output(OutputObserver o) {
        output_observers_[next_output_observer_] = std::move(o);
        return next_output_observer_++;
    }
    void unsubscribe_output(std::uint64_t id) { output_observers_.erase(id); }
    // Queues bytes for the running process's stdin. Only event listeners
    // (program().listener_pool) have a stdin pipe, made anew for each run so
    // a new process never reads what was meant for the last; false when
    // there is none (not a listener, or no process).
    bool write_stdin(std::string data);

    // nullopt for a program without healthcheck or while no process runs.
    std::optional<core::HealthStatus> health() const;
    // The monitor (history, counters), or null without healthcheck.
    const health::HealthMonitor* monitor() const { return monitor_.get(); }

    // Probe latencies for /metrics: a Prometheus histogram (seconds).
    static constexpr std::array<double, 8> kLatencyBuckets{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
    struct LatencyHistogram {
        std::array<std::uint64_t, kLatencyBuckets.size()> buckets{};  // cumulative counts per bucket
        std::uint64_t count = 0;
        double sum = 0;
    };
    const LatencyHistogram& probe_latency() const { return probe_latency_; }

    // Runs ended by the OOM killer (cgroup memory_limit), for /metrics.
    std::uint64_t oom_kills() const { return oom_kills_; }

    // "memory_limit (…why…)" for each configured limit this host could not
    // apply and the program runs without ([vigil] limits = best-effort).
    const std::vector<std::string>& limits_not_applied() const;
    // Whether the limit `key` (memory_limit, …) is in force for the next or
    // current run: false when left out, and when the program is refused.
    bool limit_applied(const std::string& key) const;

    // What the child last said with STATUS= (sd_notify), for status.
    const std::string& notify_status() const { return notify_status_; }

    // Why the last spawn failed (empty after a good spawn), for status and logs.
    const std::string& spawn_error() const { return spawn_error_; }
    // The telling line of the last run's output when it ended on its own
    // (core/exit_reason.hpp), e.g. "… Address already in use"; empty after a
    // requested stop or when nothing stood out. For status and logs.
    const std::string& exit_reason() const { return exit_reason_; }

private:
    void execute(const core::Decision& d);
    void do_spawn();
    void arm(core::Timer t, core::Duration delay);
    void cancel(core::Timer t);
    void signal(int sig, bool to_group);
    void watch_exit();
    bool open_log_pipes();
    void attach_pipe(int which, int read_fd, int write_fd);  // reads `read_fd` into the program's log
    void read_pipe(int which);
    void deliver(int which, std::string_view data);  // to the log, observers and the output tail
    void drain_pipes();  // what the child wrote before it exited and is still in the pipes
    bool wants_pipe(int which) const;  // a log file, events or the listener protocol read it
    void write_next_stdin();
    void close_stdin();

    boost::asio::io_context& io_;
    std::string state_dir_;
    bool limits_best_effort_;
    bool strip_ansi_;
    std::string server_url_;  // SUPERVISOR_SERVER_URL unless the program sets serverurl
    config::Program program_;
    core::Rng& rng_;
    ChildTable& children_;
    Listener& listener_;
    HeldSockets* sockets_;
    std::string instance_;
    core::ProcessMachine machine_;

    std::array<boost::asio::steady_timer, core::kTimerCount> timers_;
    std::array<unsigned, core::kTimerCount> timer_generation_{};
    std::array<std::optional<core::TimePoint>, core::kTimerCount> timer_due_{};  // armed: when it fires
    std::optional<boost::asio::posix::stream_descriptor> pidfd_;

    // [0] stdout, [1] stderr. The write ends stay open in vigild for the
    // runner's whole life and are handed to each new child, so a reader
    // never sees EOF between restarts.
    struct Pipe {
        std::optional<boost::asio::posix::stream_descriptor> reader;
        int write_fd = -1;
        std::unique_ptr<LogFile> log;        // null: no file (NONE or syslog only)
        std::unique_ptr<SyslogLines> syslog;  // *_syslog
        std::unique_ptr<AnsiStripper> ansi;   // [supervisord] strip_ansi
        std::string stripped;                 // ansi's output, reused
        // Allocated with the pipe: programs that log NONE cost nothing here.
        std::unique_ptr<char[]> buffer;
    };
    static constexpr std::size_t kPipeBuffer = 8192;
    std::array<Pipe, 2> pipes_;
    std::optional<boost::asio::posix::stream_descriptor> stdin_;
    std::deque<std::string> stdin_queue_;
    bool stdin_writing_ = false;
    unsigned stdin_generation_ = 0;
    std::string spawn_error_;
    core::OutputTail output_tail_;  // the current run's last lines
    std::string exit_reason_;
    // The program's name, with the instance tag of a second runner: what
    // the notify socket and the cgroup are named after.
    std::string unique_name() const { return instance_.empty() ? program_.name : program_.name + ":" + instance_; }
    std::vector<std::string> extra_env_;
    void make_monitor();
    void sync_monitor();
    void make_notify_socket(int carried_fd = -1);
    void make_cgroup();
    std::vector<std::string> child_env() const;
    void on_notify(pid_t sender, std::string_view key, std::string_view value);
    void arm_watchdog();
    void sync_watchdog();

    std::shared_ptr<health::HealthMonitor> monitor_;
    LatencyHistogram probe_latency_;
    std::shared_ptr<NotifySocket> notify_;  // only with notify or watchdog
    boost::asio::steady_timer watchdog_;
    bool watchdog_armed_ = false;
    unsigned watchdog_generation_ = 0;
    std::string notify_status_;  // the child's last STATUS=
    std::unique_ptr<ProgramCgroup> cgroup_;  // only for programs with limits
    std::uint64_t oom_kills_at_spawn_ = 0;
    std::uint64_t oom_kills_ = 0;
    std::map<std::uint64_t, OutputObserver> output_observers_;
    std::uint64_t next_output_observer_ = 1;
    bool closed_ = false;
};

}  // namespace vigil::supervisor
