// exec:COMMAND: `/bin/sh -c COMMAND` in its own process group, healthy on
// exit status 0 within the timeout; on timeout the whole group is SIGKILLed.
// The tail of its output (stdout and stderr together) goes into the detail,
// as Docker keeps it for `docker inspect`.
//
// The shell is spawned like any supervised program (supervisor/spawner.cpp:
// its own session, so its pid is its group's id, and a pidfd) and registered
// in vigild's child table: the subreaper's reaper then hands its exit to this
// probe instead of reaping it as an orphan, and the status is collected here
// through the pidfd alone.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "supervisor/child_table.hpp"
#include "supervisor/health/probe_base.hpp"
#include "supervisor/spawner.hpp"

extern char** environ;

namespace vigil::health {
namespace {

constexpr std::size_t kOutputKept = 512;  // bytes of output tail in the detail
constexpr idtype_t kPidfd = static_cast<idtype_t>(3);  // P_PIDFD, Linux 5.4

std::string signal_text(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    return abbrev ? std::string("killed by SIG") + abbrev : "killed by signal " + std::to_string(sig);
}

supervisor::SpawnRequest shell_request(const std::string& command, const ExecContext& ctx, int out) {
    supervisor::SpawnRequest r;
    r.argv = {"/bin/sh", "-c", command};
    if (ctx.env) r.env = *ctx.env;
    else
        for (char** e = environ; e && *e; ++e) r.env.emplace_back(*e);
    r.directory = ctx.directory;
    if (ctx.uid) r.creds = supervisor::Credentials{*ctx.uid, ctx.gid.value_or(::getgid()), ctx.groups, {}, {}};
    r.stdout_fd = r.stderr_fd = out;
    return r;
}

class ExecProbe final : public ProbeBase {
public:
    ExecProbe(asio::io_context& io, const config::HealthCheck& hc, ExecContext ctx)
        : ProbeBase(io, hc.timeout), command_(hc.target), ctx_(std::move(ctx)) {}

private:
    // One command run; its handlers hold it until the shell is reaped, which
    // may be after the run has timed out and been reported.
    struct Child {
        Child(asio::io_context& io, supervisor::ChildTable* table) : pidfd(io), out(io), table(table) {}
        ~Child() {
            if (pid > 0 && !reaped) {  // the io_context went away first: do not leave the group running
                kill_group();
                siginfo_t si{};
                ::waitid(kPidfd, static_cast<id_t>(pidfd.native_handle()), &si, WEXITED | WNOHANG);
                if (table) table->remove(pid);
            }
        }
        void kill_group() noexcept { ::kill(-pid, SIGKILL); }
        void keep(const char* data, std::size_t n) {
            output.append(data, n);
            if (output.size() > 2 * kOutputKept) output.erase(0, output.size() - kOutputKept);
        }
        pid_t pid = -1;
        bool reaped = false;
        asio::posix::stream_descriptor pidfd, out;
        supervisor::ChildTable* table;
        std::array<char, 4096> buf{};
        std::string output;
    };

    void start() override {
        phase_ = "starting the command";
        int pipefd[2];
        if (::pipe2(pipefd, O_CLOEXEC) < 0) return finish(false, std::string("pipe: ") + std::strerror(errno));
        // Only our end is non-blocking: the flag is shared by the file
        // description, and the command expects a blocking stdout.
        ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
        const supervisor::SpawnResult s = supervisor::spawn(shell_request(command_, ctx_, pipefd[1]));
        ::close(pipefd[1]);
        if (!s.ok()) {
            ::close(pipefd[0]);
            return finish(false, "cannot start /bin/sh: " + s.stage + ": " + std::strerror(s.error));
        }
        child_ = std::make_shared<Child>(io_, ctx_.children);
        child_->pid = s.pid;
        child_->pidfd.assign(s.pidfd);
        child_->out.assign(pipefd[0]);
        phase_ = "running the command";
        const std::uint64_t id = run_id();
        if (ctx_.children) {
            std::weak_ptr<ExecProbe> weak = std::static_pointer_cast<ExecProbe>(shared_from_this());
            std::weak_ptr<Child> wc = child_;
            ctx_.children->add(s.pid, [weak, wc, id] {
                auto self = weak.lock();
                auto c = wc.lock();
                if (!self || !c) return false;
                self->on_exit(c, id);
                return c->reaped;
            });
        }
        read_output(child_);
        wait_exit(child_, id);
    }

    // Keeps the pipe drained so a chatty command never blocks on a full pipe.
    static void read_output(const std::shared_ptr<Child>& c) {
        c->out.async_read_some(asio::buffer(c->buf), [c](const boost::system::error_code& ec, std::size_t n) {
            c->keep(c->buf.data(), n);
            if (!ec && c->out.is_open()) read_output(c);
        });
    }

    // Reaps the shell whatever became of the run: after a timeout the
    // group has been killed and only the zombie is left to collect.
    void wait_exit(const std::shared_ptr<Child>& c, std::uint64_t id) {
        auto self = std::static_pointer_cast<ExecProbe>(shared_from_this());
        c->pidfd.async_wait(asio::posix::stream_descriptor::wait_read,
                            [self, c, id](const boost::system::error_code&) {
                                self->on_exit(c, id);
                                if (!c->reaped && c->pidfd.is_open()) self->wait_exit(c, id);
                            });
    }

    // From the pidfd, or from the reaper (child table) when SIGCHLD came first.
    void on_exit(const std::shared_ptr<Child>& c, std::uint64_t id) {
        if (c->reaped) return;
        // The zombie still holds the group's id, so this cannot hit a
        // recycled group: it only clears what the check left running.
        ::kill(-c->pid, SIGKILL);
        siginfo_t si{};
        if (::waitid(kPidfd, static_cast<id_t>(c->pidfd.native_handle()), &si, WEXITED | WNOHANG) < 0) {
            if (errno == EINTR) return;  // the pidfd wait comes back
            c->reaped = true;  // ECHILD: someone else reaped it; nothing more to wait for
            if (c->table) c->table->remove(c->pid);
            if (is_current(id)) finish(false, std::string("waiting for the command: ") + std::strerror(errno));
            return;
        }
        if (si.si_pid == 0) return;  // not exited yet
        c->reaped = true;
        if (c->table) c->table->remove(c->pid);
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
