#include "supervisor/process_runner.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "config/command_line.hpp"
#include "supervisor/child_env.hpp"
#include "supervisor/data_dir.hpp"
#include "supervisor/held_sockets.hpp"
#include "supervisor/reexec_state.hpp"
#include "supervisor/spawner.hpp"

namespace vigil::supervisor {
ProcessRunner::ProcessRunner(boost::asio::io_context& io, config::Program program, const config::Daemon& daemon,
                             core::Rng& rng, ChildTable& children, Listener& listener, HeldSockets* sockets,
                             const reexec::CarriedProcess* carried, std::string instance)
    : io_(io),
      state_dir_(daemon.state_dir),
      limits_best_effort_(!daemon.limits_required),
      strip_ansi_(daemon.strip_ansi),
      server_url_(config::children_server_url(daemon)),
      program_(std::move(program)),
      rng_(rng),
      children_(children),
      listener_(listener),
      sockets_(sockets),
      instance_(std::move(instance)),
      machine_(core::Policy::from(program_)),
      timers_{boost::asio::steady_timer(io), boost::asio::steady_timer(io), boost::asio::steady_timer(io)},
      watchdog_(io) {
    make_notify_socket(carried ? carried->notify_fd : -1);
    make_monitor();
    make_cgroup();
    // Once per program, at start (and when `update` makes it anew).
    if (!limits_not_applied().empty())
        spdlog::warn("{}: limits not applied: {}; running without them ([vigil] limits = best-effort)", name(),
                     describe_not_applied(limits_not_applied()));
}

void ProcessRunner::make_cgroup() {
    const auto& limits = program_.limits;
    if (!limits.memory_bytes && !limits.cpu_cores && !limits.pids) return;
    cgroup_ = std::make_unique<ProgramCgroup>(ProgramCgroup::instance_id(state_dir_), unique_name(), limits,
                                              limits_best_effort_);
}

const std::vector<std::string>& ProcessRunner::limits_not_applied() const {
    static const std::vector<std::string> none;
    return cgroup_ ? cgroup_->not_applied() : none;
}

bool ProcessRunner::limit_applied(const std::string& key) const {
    if (!cgroup_ || !cgroup_->error().empty()) return false;
    const auto& left_out = cgroup_->not_applied();
    return std::none_of(left_out.begin(), left_out.end(),
                        [&](const std::string& n) { return n.rfind(key + " ", 0) == 0; });
}

void ProcessRunner::make_notify_socket(int carried_fd) {
    if (!program_.notify && !program_.watchdog) return;
    notify_ = std::make_shared<NotifySocket>(io_, unique_name(), [this](pid_t sender, std::string_view k, std::string_view v) {
        if (!closed_) on_notify(sender, k, v);
    }, carried_fd);
    if (!notify_->error().empty()) {
        spdlog::error("{}: {}; READY=1 and WATCHDOG=1 cannot arrive", name(), notify_->error());
        return;
    }
    notify_->start();
}

// Built at each spawn rather than kept: a copy of vigild's environment in
// every runner would cost a few KB per program for the daemon's whole life.
std::vector<std::string> ProcessRunner::child_env() const {
    auto env = child_environment(program_, server_url_);
    env.insert(env.end(), extra_env_.begin(), extra_env_.end());
    if (notify_ && notify_->error().empty()) {
        env.push_back("NOTIFY_SOCKET=" + notify_->address());
        if (program_.watchdog) env.push_back("WATCHDOG_USEC=" + std::to_string(program_.watchdog->count() * 1000));
    }
    return env;
}

void ProcessRunner::on_notify(pid_t sender, std::string_view key, std::string_view value) {
    if (sender != machine_.pid() || sender <= 0) {
        spdlog::debug("{}: ignored {}={} from pid {} (only the main process {} may notify)", name(), key, value, sender,
                      machine_.pid());
        return;
    }
    if (key == "READY" && value == "1") {
        send(core::Event::ready());
    } else if (key == "STATUS") {
        notify_status_ = std::string(value);
    } else if (key == "WATCHDOG" && value == "1") {
        if (program_.watchdog) arm_watchdog();
    } else if (key == "STOPPING" && value == "1") {
        spdlog::info("{}: says it is stopping", name());
    }
}

// The watchdog runs while a process exists and is not being stopped; each
// WATCHDOG=1 pushes it back, and its expiry is a failed liveness check.
void ProcessRunner::arm_watchdog() {
    const unsigned gen = ++watchdog_generation_;
    watchdog_armed_ = true;
    watchdog_.expires_after(*program_.watchdog);
    watchdog_.async_wait([self = shared_from_this(), gen](const boost::system::error_code& ec) {
        if (ec || self->closed_ || gen != self->watchdog_generation_) return;
        self->watchdog_armed_ = false;
        spdlog::warn("{}: no WATCHDOG=1 for {} ms: restarting it", self->name(), self->program_.watchdog->count());
        self->send(core::Event::unhealthy());
    });
}

void ProcessRunner::sync_watchdog() {
    if (!program_.watchdog) return;
    const core::State s = machine_.state();
    const bool wanted = (s == core::State::starting || s == core::State::running) && machine_.pid() > 0;
    if (wanted && !watchdog_armed_) {
        arm_watchdog();
    } else if (!wanted && watchdog_armed_) {
        watchdog_armed_ = false;
        ++watchdog_generation_;
        watchdog_.cancel();
    }
}

// Checks run as the program does: its user, environment and directory, so an
// exec: check sees what the program sees.
void ProcessRunner::make_monitor() {
    if (program_.health.kind == config::HealthKind::none) return;
    health::HealthMonitor::Options opts;
    opts.rng = &rng_;  // vigild's one generator: a run replays from its seed
    opts.exec.children = &children_;
    opts.exec.env = child_env();
    opts.exec.directory = program_.directory;
    if (!program_.user.empty() && ::geteuid() == 0) {
        if (auto u = lookup_user(program_.user); u.creds) {
            opts.exec.uid = u.creds->uid;
            opts.exec.gid = u.creds->gid;
            opts.exec.groups = u.creds->groups;
        }
    }
    // The monitor lives no longer than this runner and is stopped in
    // close(), so the raw `this` in its callbacks cannot dangle.
    monitor_ = health::HealthMonitor::create(
        io_, program_.name, program_.health,
        [this](core::HealthStatus from, core::HealthStatus to, const health::ProbeResult& r) {
            if (!closed_) listener_.on_health(*this, from, to, r.detail);
        },
        opts);
    if (!monitor_) return;
    monitor_->set_on_result([this](const health::HealthRecord& rec) {
        const double secs = std::chrono::duration<double>(rec.latency).count();
        for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i)
            if (secs <= kLatencyBuckets[i]) ++probe_latency_.buckets[i];
        ++probe_latency_.count;
        probe_latency_.sum += secs;
    });
}

std::optional<core::HealthStatus> ProcessRunner::health() const {
    if (!monitor_ || !monitor_->running()) return std::nullopt;
    return monitor_->status();
}

// Checks run while a process is up and not being stopped: a program going
// down on purpose must not be declared unhealthy (and restarted) on the way.
void ProcessRunner::sync_monitor() {
    if (!monitor_) return;
    const core::State s = machine_.state();
    const bool wanted = (s == core::State::starting || s == core::State::running) && machine_.pid() > 0;
    if (wanted && !monitor_->running()) {
        monitor_->start();
        listener_.on_health(*this, core::HealthStatus::starting, core::HealthStatus::starting, "checks started");
    } else if (!wanted && monitor_->running()) {
        monitor_->stop();
    }
}

ProcessRunner::~ProcessRunner() {
    for (auto& p : pipes_)
        if (p.write_fd >= 0) ::close(p.write_fd);
}

int ProcessRunner::reopen_logs() {
    int n = 0;
    for (auto& p : pipes_)
        if (p.log) {
            p.log->reopen();
            if (!p.log->error().empty()) spdlog::error("[{}] cannot reopen {}", name(), p.log->error());
            ++n;
        }
    return n;
}

void ProcessRunner::close() {
    closed_ = true;
    if (machine_.pid() > 0) children_.remove(machine_.pid());  // dropped while it runs: an orphan from now on
    if (monitor_) monitor_->stop();
    if (notify_) notify_->close();
    watchdog_.cancel();
    for (auto& t : timers_) t.cancel();
    if (pidfd_) pidfd_->cancel();
    for (auto& p : pipes_)
        if (p.reader) p.reader->cancel();
    close_stdin();
    // Now, not when the last handler lets go of this runner: a replacement
    // made next uses the same cgroup dirs, which this one would remove.
    cgroup_.reset();
}

void ProcessRunner::send(const core::Event& e) {
    const core::Decision d = machine_.handle(e, core::Clock::now(), rng_);
    execute(d);
}

void ProcessRunner::execute(const core::Decision& d) {
    bool spawn = false;
    for (const core::Action& a : d.actions) {
        switch (a.type) {
            case core::Action::Type::spawn: spawn = true; break;
            case core::Action::Type::signal: signal(a.signal, a.to_group); break;
            case core::Action::Type::arm_timer: arm(a.timer, a.delay); break;
            case core::Action::Type::cancel_timer: cancel(a.timer); break;
        }
    }
    sync_monitor();
    sync_watchdog();
    if (d.changed() || !d.reason.empty()) listener_.on_transition(*this, d);
    // Spawning feeds the machine again (spawned / spawn_failed), so it runs
    // after this decision has been reported, keeping the log in order (and
    // not at all when the listener dropped this runner meanwhile).
    if (spawn && !closed_) do_spawn();
}

void ProcessRunner::do_spawn() {
    SpawnRequest req;
    const auto split = config::split_command(program_.command);
    if (!split.error.empty()) {  // the loader refuses these; defensive only
        spawn_error_ = split.error;
        send(core::Event::spawn_failed(EINVAL));
        return;
    }
    req.argv = split.argv;
    req.env = child_env();
    req.directory = program_.directory;
    if (program_.umask) req.umask = static_cast<mode_t>(*program_.umask);
    if (!program_.user.empty() || !program_.os_group.empty()) {
        auto u = lookup_user(program_.user.empty() ? std::to_string(::geteuid()) : program_.user);
        if (u.creds && !program_.os_group.empty()) u.error = apply_group(*u.creds, program_.os_group);
        if (!u.creds || !u.error.empty()) {
            spawn_error_ = u.error;
            send(core::Event::spawn_failed(ESRCH));
            return;
        }
        // A non-root vigild can only run programs as itself.
        if (::geteuid() != 0 && (u.creds->uid != ::geteuid() || u.creds->gid != ::getegid())) {
            spawn_error_ = "cannot run as user '" + program_.user + "' / group '" + program_.os_group + "': vigild is not root";
            send(core::Event::spawn_failed(EPERM));
            return;
        }
        if (::geteuid() == 0) {
            // The user's own, not vigild's (root's /root): a second HOME=
            // after vigild's would lose, getenv returns the first.
            set_user_env(req.env, program_, "HOME", u.creds->home);
            set_user_env(req.env, program_, "USER", u.creds->name);
            set_user_env(req.env, program_, "LOGNAME", u.creds->name);
            req.creds = std::move(u.creds);
        }
    }
    if ((program_.kind == "postgres" || program_.kind == "redis") && !program_.data_dir.empty() && ::geteuid() == 0) {
        const uid_t uid = req.creds ? req.creds->uid : 0;
        const gid_t gid = req.creds ? req.creds->gid : 0;
        if (std::string err = make_data_dir(program_.data_dir, uid, gid); !err.empty()) {
            spawn_error_ = err;
            send(core::Event::spawn_failed(EACCES));
            return;
        }
    }
    if (!open_log_pipes()) {
        send(core::Event::spawn_failed(errno ? errno : EIO));
        return;
    }
    if (!program_.sockets.empty()) {
        std::string error = sockets_ ? "" : "no socket holder";
        if (sockets_) req.listen_fds = sockets_->fds_for(program_, error);
        if (req.listen_fds.empty()) {
            spawn_error_ = error;
            send(core::Event::spawn_failed(EADDRINUSE));
            return;
        }
        // systemd names a socket after its unit; here, after the program.
        req.listen_names.assign(req.listen_fds.size(), program_.program);
        req.listen_on_stdin = program_.socket_on_stdin;
    }
    req.stdout_fd = pipes_[0].write_fd;
    req.stderr_fd = program_.redirect_stderr ? pipes_[0].write_fd : pipes_[1].write_fd;
    int stdin_pipe[2] = {-1, -1};
    if (!program_.listener_pool.empty()) {
        if (::pipe2(stdin_pipe, O_CLOEXEC) < 0) {
            const int err = errno;
            spawn_error_ = std::string("pipe: ") + std::strerror(err);
            send(core::Event::spawn_failed(err));
            return;
        }
        req.stdin_fd = stdin_pipe[0];
    }
    // Whatever happens next, the child's end of stdin is not ours to keep.
    auto stdin_spawned = [&](bool ok) {
        if (stdin_pipe[0] < 0) return;
        ::close(stdin_pipe[0]);
        close_stdin();
        if (ok) stdin_.emplace(io_, stdin_pipe[1]);
        else ::close(stdin_pipe[1]);
    };

    const auto& limits = program_.limits;
    if (limits.memory_bytes || limits.cpu_cores || limits.pids) {
        if (!cgroup_) make_cgroup();  // refused last time (limits = required): the host may have changed
        std::string refusal = cgroup_->error();
        if (refusal.empty()) {
            req.cgroup_procs = cgroup_->open_procs();
            if (req.cgroup_procs.empty() && cgroup_->active()) refusal = "cannot open cgroup.procs";
        }
        if (!refusal.empty()) {
            // Refused, not run unlimited: with limits = required they are part of the contract.
            spawn_error_ = "cannot apply resource limits: " + refusal;
            cgroup_.reset();
            stdin_spawned(false);
            send(core::Event::spawn_failed(EPERM));
            return;
        }
        oom_kills_at_spawn_ = cgroup_->oom_kills();
    }

    const SpawnResult r = spawn(req);
    for (int fd : req.cgroup_procs) ::close(fd);
    stdin_spawned(r.ok());
    if (!r.ok()) {
        spawn_error_ = r.stage + ": " + std::strerror(r.error) + " (" + req.argv[0] + ")";
        send(core::Event::spawn_failed(r.error));
        return;
    }
    spawn_error_.clear();
    output_tail_.clear();
    pidfd_.emplace(io_, r.pidfd);
    children_.add(r.pid, [this] { return try_reap(); });
    send(core::Event::spawned(r.pid));
    watch_exit();
}

bool ProcessRunner::open_log_pipes() {
    for (int i = 0; i < 2; ++i) {
        Pipe& p = pipes_[i];
        if (i == 1 && program_.redirect_stderr) continue;
        if (!wants_pipe(i) || p.write_fd >= 0) continue;  // discarded (no file, no syslog, no events), or already open
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0) {
            spawn_error_ = std::string("pipe: ") + std::strerror(errno);
            return false;
        }
        attach_pipe(i, fds[0], fds[1]);
    }
    return true;
}

void ProcessRunner::attach_pipe(int which, int read_fd, int write_fd) {
    const config::LogTarget& target = which == 0 ? program_.stdout_log : program_.stderr_log;
    Pipe& p = pipes_[which];
    p.write_fd = write_fd;
    p.reader.emplace(io_, read_fd);
    // Not zeroed: a quiet program's buffer pages are never touched and
    // never count in vigild's RSS.
    p.buffer = std::make_unique_for_overwrite<char[]>(kPipeBuffer);
    if (!target.path.empty()) {
        p.log = std::make_unique<LogFile>(target.path, target.max_bytes, target.backups);
        if (!p.log->error().empty()) spdlog::warn("{}: cannot open log {}", name(), p.log->error());
    }
    if (target.syslog) p.syslog = std::make_unique<SyslogLines>(program_.name);
    if (strip_ansi_) p.ansi = std::make_unique<AnsiStripper>();
    read_pipe(which);
}

void ProcessRunner::read_pipe(int which) {
    Pipe& p = pipes_[which];
    p.reader->async_read_some(boost::asio::buffer(p.buffer.get(), kPipeBuffer),
                              [self = shared_from_this(), which](const boost::system::error_code& ec, std::size_t n) {
                                  Pipe& p = self->pipes_[which];
                                  if (n > 0) self->deliver(which, std::string_view(p.buffer.get(), n));
                                  if (!ec && !self->closed_) self->read_pipe(which);
                              });
}

bool ProcessRunner::wants_pipe(int which) const {
    if (which == 0)
        return !program_.stdout_log.path.empty() || program_.stdout_log.syslog || program_.stdout_events_enabled ||
               program_.stdout_capture_maxbytes > 0 || !program_.listener_pool.empty();
    return !program_.stderr_log.path.empty() || program_.stderr_log.syslog || program_.stderr_events_enabled ||
           program_.stderr_capture_maxbytes > 0;
}

void ProcessRunner::deliver(int which, std::string_view data) {
    Pipe& p = pipes_[which];
    if (p.log || p.syslog) {
        std::string_view logged = data;
        if (p.ansi) {
            p.ansi->filter(data, p.stripped);
            logged = p.stripped;
        }
        if (p.log) p.log->write(logged);
        if (p.syslog) p.syslog->feed(logged);
    }
    output_tail_.feed(which + 1, data);
    const auto observers = output_observers_;
    for (const auto& [_, o] : observers) o(which + 1, data);
}

// The exit may be seen before the last lines written: read exactly what the
// pipes hold now (never blocks), in order, before the exit is reported. asio
// performs a pending read only when its turn comes, so nothing is reordered.
void ProcessRunner::drain_pipes() {
    for (int i = 0; i < 2; ++i) {
        Pipe& p = pipes_[i];
        if (!p.reader || !p.buffer) continue;
        const int fd = p.reader->native_handle();
        for (int rounds = 0; rounds < 64; ++rounds) {
            int avail = 0;
            if (::ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0) break;
            const ssize_t n = ::read(fd, p.buffer.get(), std::min<std::size_t>(kPipeBuffer, static_cast<std::size_t>(avail)));
            if (n <= 0) break;
            deliver(i, std::string_view(p.buffer.get(), static_cast<std::size_t>(n)));
        }
        // The exited child's last line may have no newline.
        if (p.syslog) p.syslog->flush();
    }
}

void ProcessRunner::watch_exit() {
    pidfd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                           if (ec || self->closed_ || !self->pidfd_) return;
                           if (!self->try_reap()) self->watch_exit();
                       });
}

bool ProcessRunner::try_reap() {
    if (!pidfd_) return false;
    siginfo_t si{};
    // P_PIDFD (Linux 5.4) waits for exactly this child, so orphan reaping
    // elsewhere can never steal its status.
    constexpr idtype_t kPidfd = static_cast<idtype_t>(3);
    if (::waitid(kPidfd, static_cast<id_t>(pidfd_->native_handle()), &si, WEXITED | WNOHANG) < 0) {
        if (errno == EINTR) return false;
        spdlog::error("{}: waitid on pidfd: {}", name(), std::strerror(errno));
        si.si_pid = machine_.pid();
        si.si_code = CLD_KILLED;
        si.si_status = SIGKILL;
    } else if (si.si_pid == 0) {
        return false;  // not exited yet
    }
    core::ExitStatus st;
    if (si.si_code == CLD_EXITED) {
        st.code = si.si_status;
    } else {
        st.signaled = true;
        st.signal = si.si_status;
    }
    pidfd_->close();
    pidfd_.reset();
    children_.remove(si.si_pid);
    close_stdin();
    // Like systemd's control-group kill mode: what the program left behind
    // in its group (workers, a shell's children) must not outlive it and hold
    // its ports against the next start.
    if (cgroup_) {
        st.oom = st.signaled && cgroup_->oom_kills() > oom_kills_at_spawn_;
        if (st.oom) {
            ++oom_kills_;
            spdlog::warn("{}: the OOM killer ended pid {} (memory_limit {} bytes)", name(), si.si_pid,
                         program_.limits.memory_bytes.value_or(0));
        }
        cgroup_->kill_all();  // the whole tree, double-forked escapees included
    }
    if (program_.killasgroup && ::kill(-si.si_pid, SIGKILL) == 0)
        spdlog::debug("{}: killed processes left in its group after pid {} ended", name(), si.si_pid);
    // An exit nobody asked for: say why, in the log and in status, with the
    // line of its output that explains it best.
    drain_pipes();
    exit_reason_.clear();
    if (machine_.state() != core::State::stopping) {
        // Killed by a signal, its output explains it only when a line says
        // so (an assertion before SIGABRT); the signal itself is the reason.
        exit_reason_ = output_tail_.reason(200, st.signaled);
        if (!exit_reason_.empty()) spdlog::warn("{}: pid {} ended ({}): {}", name(), si.si_pid, st.describe(), exit_reason_);
        else if (st.signaled) spdlog::warn("{}: pid {} ended ({})", name(), si.si_pid, st.describe());
    } else if (machine_.liveness_stop() && monitor_ && !monitor_->history().empty()) {
        exit_reason_ = "last check: " + monitor_->history().back().detail;
    }
    send(core::Event::exited(st));
    return true;
}

bool ProcessRunner::write_stdin(std::string data) {
    if (!stdin_ || closed_) return false;
    stdin_queue_.push_back(std::move(data));
    if (!stdin_writing_) write_next_stdin();
    return true;
}

void ProcessRunner::write_next_stdin() {
    if (stdin_queue_.empty() || !stdin_) return;
    stdin_writing_ = true;
    // The bytes live with the handler: a close in between must not free them under the write.
    auto data = std::make_shared<std::string>(std::move(stdin_queue_.front()));
    stdin_queue_.pop_front();
    boost::asio::async_write(*stdin_, boost::asio::buffer(*data),
                             [self = shared_from_this(), data, gen = stdin_generation_](
                                 const boost::system::error_code& ec, std::size_t) {
                                 if (gen != self->stdin_generation_) return;  // that pipe is closed
                                 self->stdin_writing_ = false;
                                 if (ec) {
                                     // EPIPE: the process closed stdin or died; its exit is on its way.
                                     spdlog::debug("{}: writing to stdin: {}", self->name(), ec.message());
                                     self->stdin_queue_.clear();
                                     return;
                                 }
                                 self->write_next_stdin();
                             });
}

void ProcessRunner::close_stdin() {
    stdin_queue_.clear();
    stdin_writing_ = false;
    ++stdin_generation_;
    if (!stdin_) return;
    boost::system::error_code ignored;
    stdin_->close(ignored);
    stdin_.reset();
}

void ProcessRunner::arm(core::Timer t, core::Duration delay) {
    const auto i = static_cast<std::size_t>(t);
    const unsigned gen = ++timer_generation_[i];
    timer_due_[i] = core::Clock::now() + delay;
    timers_[i].expires_at(*timer_due_[i]);
    timers_[i].async_wait([self = shared_from_this(), t, i, gen](const boost::system::error_code& ec) {
        // A timer re-armed or cancelled since is stale even if it already fired.
        if (ec || self->closed_ || self->timer_generation_[i] != gen) return;
        self->timer_due_[i].reset();
        self->send(core::Event::timer_fired(t));
    });
}

void ProcessRunner::cancel(core::Timer t) {
    const auto i = static_cast<std::size_t>(t);
    ++timer_generation_[i];
    timer_due_[i].reset();
    timers_[i].cancel();
}

void ProcessRunner::signal(int sig, bool to_group) {
    const pid_t pid = machine_.pid();
    if (pid <= 0) return;
    // The child called setsid(), so its pid is its process group id. ESRCH
    // for the group is normal when the leader already exited alone.
    if (to_group && ::kill(-pid, sig) == 0) return;
    if (::kill(pid, sig) < 0 && errno != ESRCH)
        spdlog::warn("{}: kill({}, {}): {}", name(), pid, sig, std::strerror(errno));
}

}  // namespace vigil::supervisor
