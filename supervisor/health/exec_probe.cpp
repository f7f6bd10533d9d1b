// exec:COMMAND: `/bin/sh -c COMMAND` in its own process group, healthy on
// exit status 0 within the timeout; on timeout the whole group is SIGKILLed.
// The tail of its output (stdout and stderr together) goes into the detail,
// as Docker keeps it for `docker inspect`.
//
// vigild is a child subreaper that reaps every child it does not manage
// (waitid(P_ALL) peeking), which would steal a probe's exit status. So the
// probe's direct child is a "keeper" made with clone3(CLONE_PIDFD) and an
// exit signal of 0: such a clone child is invisible to waitid(P_ALL) without
// __WALL, sends no SIGCHLD, and is reaped here through its pidfd alone. The
// keeper cannot be the shell itself, because execve() resets the exit signal
// to SIGCHLD; it forks the shell, waits for it, and exits the same way.
// Keeper, shell and whatever the shell starts share one process group, the
// unit that a timeout kills.
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "supervisor/child_signals.hpp"
#include "supervisor/health/probe_base.hpp"

extern char** environ;

namespace vigil::health {
namespace {

constexpr std::size_t kOutputKept = 512;  // bytes of output tail in the detail
constexpr idtype_t kPidfd = static_cast<idtype_t>(3);  // P_PIDFD, Linux 5.4

std::string signal_text(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    return abbrev ? std::string("killed by SIG") + abbrev : "killed by signal " + std::to_string(sig);
}

void say(const char* text) {
    [[maybe_unused]] auto n = ::write(2, text, std::strlen(text));
}

// The shell, after the keeper forked it: still no allocation, and raw
// syscalls for the id changes, because glibc's setuid() would try to
// rendezvous with threads that exist only in vigild.
[[noreturn]] void shell(char* const* argv, char* const* envp, const ExecContext& ctx) {
    if (!ctx.directory.empty() && ::chdir(ctx.directory.c_str()) < 0) {
        say("vigil: cannot enter the check's directory\n");
        ::_exit(126);
    }
    if (ctx.gid && ::syscall(SYS_setresgid, *ctx.gid, *ctx.gid, *ctx.gid) < 0) {
        say("vigil: cannot switch group\n");
        ::_exit(126);
    }
    if (ctx.uid) {
        if (::syscall(SYS_setgroups, ctx.groups.size(), ctx.groups.data()) < 0 ||
            ::syscall(SYS_setresuid, *ctx.uid, *ctx.uid, *ctx.uid) < 0) {
            say("vigil: cannot switch user\n");
            ::_exit(126);
        }
    }
    ::execve(argv[0], argv, envp);
    say("vigil: cannot run /bin/sh\n");
    ::_exit(127);
}

// The keeper, vigild's clone child (see the top of the file). It runs on a
// copy of vigild's memory and never execs: only async-signal-safe calls,
// and a raw fork, since glibc's fork() takes locks another vigild thread may
// have held at clone time.
[[noreturn]] void keeper(char* const* argv, char* const* envp, int in, int out, const ExecContext& ctx) {
    supervisor::reset_signals_for_child();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setsid();
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) ::_exit(126);
    // vigild's sockets and pipes must not live on in here or in the shell.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    supervisor::reset_fd_limit_for_child();

    const long sh = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (sh == 0) shell(argv, envp, ctx);
    if (sh < 0) {
        say("vigil: cannot fork the shell\n");
        ::_exit(126);
    }
    // The shell (and what it starts) are now the only writers of the pipe,
    // so its end of file means they are done with it.
    ::close(0);
    ::close(1);
    ::close(2);
    int status = 0;
    while (::wait4(static_cast<pid_t>(sh), &status, 0, nullptr) < 0)
        if (errno != EINTR) ::_exit(126);
    if (WIFSIGNALED(status)) {
        // Die of the same signal, so the probe reads "killed by SIGTERM",
        // but never dump a core of vigild's memory while doing so.
        const struct rlimit no_core {0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);
        ::kill(::getpid(), WTERMSIG(status));
        ::_exit(128 + WTERMSIG(status));
    }
    ::_exit(WEXITSTATUS(status));
}

class ExecProbe final : public ProbeBase {
public:
    ExecProbe(asio::io_context& io, const config::HealthCheck& hc, ExecContext ctx)
        : ProbeBase(io, hc.timeout), command_(hc.target), ctx_(std::move(ctx)) {}

private:
    // One command run; its handlers hold it until the keeper is reaped, which
    // may be after the run has timed out and been reported.
    struct Child {
        explicit Child(asio::io_context& io) : pidfd(io), out(io) {}
        ~Child() {
            if (pid > 0 && !reaped) {  // the io_context went away first: do not leave the group running
                kill_group();
                siginfo_t si{};
                ::waitid(kPidfd, static_cast<id_t>(pidfd.native_handle()), &si, WEXITED | WNOHANG | __WALL);
            }
        }
        void kill_group() noexcept {
            ::kill(-pid, SIGKILL);
            // In case it is killed before its setsid(): the keeper itself.
            if (pidfd.is_open()) ::syscall(SYS_pidfd_send_signal, pidfd.native_handle(), SIGKILL, nullptr, 0);
        }
        void keep(const char* data, std::size_t n) {
            output.append(data, n);
            if (output.size() > 2 * kOutputKept) output.erase(0, output.size() - kOutputKept);
        }
        pid_t pid = -1;
        bool reaped = false;
        asio::posix::stream_descriptor pidfd, out;
        std::array<char, 4096> buf{};
        std::string output;
    };

    void start() override {
        phase_ = "starting the command";
        std::string sh = "/bin/sh", dash_c = "-c";
        char* argv[] = {sh.data(), dash_c.data(), command_.data(), nullptr};
        std::vector<char*> envp;
        if (ctx_.env) {
            for (auto& kv : *ctx_.env) envp.push_back(kv.data());
            envp.push_back(nullptr);
        }
        int pipefd[2];
        if (::pipe2(pipefd, O_CLOEXEC) < 0) return finish(false, std::string("pipe: ") + std::strerror(errno));
        const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        // Only our end is non-blocking: the flag is shared by the file
        // description, and the command expects a blocking stdout.
        ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);

        int pidfd = -1;
        struct clone_args args {};
        args.flags = CLONE_PIDFD;
        args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
        args.exit_signal = 0;
        const long pid = ::syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0) keeper(argv, ctx_.env ? envp.data() : environ, in < 0 ? pipefd[1] : in, pipefd[1], ctx_);
        const int clone_errno = errno;
        ::close(pipefd[1]);
        if (in >= 0) ::close(in);
        if (pid < 0) {
            ::close(pipefd[0]);
            return finish(false, std::string("cannot start /bin/sh: ") + std::strerror(clone_errno));
        }
        child_ = std::make_shared<Child>(io_);
        child_->pid = static_cast<pid_t>(pid);
        child_->pidfd.assign(pidfd);
        child_->out.assign(pipefd[0]);
        phase_ = "running the command";
        read_output(child_);
        wait_exit(child_, run_id());
    }

    // Keeps the pipe drained so a chatty command never blocks on a full pipe.
    static void read_output(const std::shared_ptr<Child>& c) {
        c->out.async_read_some(asio::buffer(c->buf), [c](const boost::system::error_code& ec, std::size_t n) {
            c->keep(c->buf.data(), n);
            if (!ec && c->out.is_open()) read_output(c);
        });
    }

    // Reaps the keeper whatever became of the run: after a timeout the
    // group has been killed and only the zombie is left to collect.
    void wait_exit(const std::shared_ptr<Child>& c, std::uint64_t id) {
        auto self = std::static_pointer_cast<ExecProbe>(shared_from_this());
        c->pidfd.async_wait(asio::posix::stream_descriptor::wait_read,
                            [self, c, id](const boost::system::error_code&) { self->on_exit(c, id); });
    }

    void on_exit(const std::shared_ptr<Child>& c, std::uint64_t id) {
        // The zombie still holds the group's id, so this cannot hit a
        // recycled group: it only clears what the check left running.
        ::kill(-c->pid, SIGKILL);
        siginfo_t si{};
        if (::waitid(kPidfd, static_cast<id_t>(c->pidfd.native_handle()), &si, WEXITED | WNOHANG | __WALL) < 0) {
            if (errno == EINTR) return wait_exit(c, id);
            c->reaped = true;  // ECHILD: someone else reaped it; nothing more to wait for
            if (is_current(id)) finish(false, std::string("waiting for the command: ") + std::strerror(errno));
            return;
        }
        if (si.si_pid == 0) return wait_exit(c, id);  // not exited yet
        c->reaped = true;
        boost::system::error_code ignored;
        c->pidfd.close(ignored);
        drain(*c);
        if (!is_current(id)) return;
        std::string detail = si.si_code == CLD_EXITED ? "exit status " + std::to_string(si.si_status)
                                                      : signal_text(si.si_status);
        std::string_view out = c->output;
        if (out.size() > kOutputKept) out = out.substr(out.size() - kOutputKept);
        if (const std::string text = one_line(out, kOutputKept); !text.empty()) detail += ": " + text;
        finish(si.si_code == CLD_EXITED && si.si_status == 0, detail);
    }

    // What the shell wrote just before it exited may not have been read yet.
    static void drain(Child& c) {
        if (!c.out.is_open()) return;
        for (int i = 0; i < 64; ++i) {
            const ssize_t n = ::read(c.out.native_handle(), c.buf.data(), c.buf.size());
            if (n <= 0) break;
            c.keep(c.buf.data(), static_cast<std::size_t>(n));
        }
        boost::system::error_code ignored;
        c.out.close(ignored);
    }

    void abort(bool) noexcept override {
        if (!child_) return;
        if (!child_->reaped) child_->kill_group();
        boost::system::error_code ignored;
        child_->out.close(ignored);
    }

    std::string command_;
    ExecContext ctx_;
    std::shared_ptr<Child> child_;
};

}  // namespace

std::shared_ptr<Probe> make_exec_probe(asio::io_context& io, const config::HealthCheck& hc, const ExecContext& ctx) {
    return std::make_shared<ExecProbe>(io, hc, ctx);
}

}  // namespace vigil::health
