#include "supervisor/ctl/backup_io.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/atomic_file.hpp"
#include "supervisor/ctl/commands.hpp"

namespace vigil::ctl::backup_io {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

}  // namespace

[[noreturn]] void fail(int code, std::string message) { throw Failure{code, std::move(message)}; }

// ---- running the servers' own tools ---------------------------------------

// Runs argv to completion as `who`, stdout and stderr together in *output.
// Returns the exit status (128+N for signal N, -1 when it could not run).
int run_tool(const std::vector<std::string>& argv, const Owner& who, std::string* output,
             std::chrono::seconds timeout) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) fail(kFailed, std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) fail(kFailed, std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::dup2(fds[1], 1);
        ::dup2(fds[1], 2);
        const int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0) ::dup2(null, 0);
        if (who.switch_user) {
            if (::initgroups(who.name.c_str(), who.gid) != 0 || ::setgid(who.gid) != 0 || ::setuid(who.uid) != 0) {
                std::fprintf(stderr, "cannot become %s: %s\n", who.name.c_str(), std::strerror(errno));
                ::_exit(126);
            }
            const passwd* pw = ::getpwuid(who.uid);
            if (pw) ::setenv("HOME", pw->pw_dir, 1);
            ::setenv("USER", who.name.c_str(), 1);
        }
        if (::chdir("/") != 0) ::_exit(126);  // vigilctl's cwd may be closed to `who`
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    ::close(fds[1]);
    const auto deadline = Clock::now() + timeout;
    std::string out;
    char buf[8192];
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        const ssize_t got = ::read(fds[0], buf, sizeof buf);
        if (got <= 0) break;
        if (out.size() < (1 << 20)) out.append(buf, static_cast<std::size_t>(got));
    }
    ::close(fds[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (output) *output = timed_out ? out + "\n(killed after " + std::to_string(timeout.count()) + "s)" : out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// ---- files -----------------------------------------------------------------

std::uint64_t size_of_tree(const fs::path& p) {
    std::uint64_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
        if (it->is_regular_file(ec)) n += it->file_size(ec);
    return n;
}

void chown_tree(const fs::path& p, const Owner& o) {
    if (::geteuid() != 0) return;
    auto one = [&](const fs::path& f) {
        if (::lchown(f.c_str(), o.uid, o.gid) != 0)
            fail(kFailed, "chown " + f.string() + ": " + std::strerror(errno));
    };
    one(p);
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
        one(it->path());
    if (ec) fail(kFailed, "walking " + p.string() + ": " + ec.message());
}

void fsync_path(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

// Copies one file through a temporary name, fsynced, then renamed: a reader
// of `to` sees all of it or nothing. Reads from an open descriptor, so a
// source replaced meanwhile (Redis renames its new dump over the old) is
// still copied whole.
void copy_file_durably(const fs::path& from, const fs::path& to) {
    const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) fail(kFailed, "cannot read " + from.string() + ": " + std::strerror(errno));
    const fs::path tmp = to.string() + ".tmp";
    const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        ::close(in);
        fail(kFailed, "cannot write " + tmp.string() + ": " + std::strerror(errno));
    }
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(in, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0 || ::write(out, buf, static_cast<std::size_t>(n)) != n) {
            const std::string why = std::strerror(errno);
            ::close(in);
            ::close(out);
            fail(kFailed, "copying " + from.string() + ": " + why);
        }
    }
    ::close(in);
    if (::fsync(out) != 0 || ::close(out) != 0) fail(kFailed, "writing " + tmp.string() + ": " + std::strerror(errno));
    fs::rename(tmp, to);
}

void write_file_durably(const fs::path& to, const std::string& text) {
    if (auto error = write_file_atomically(to.string(), text, Durability::synced); !error.empty())
        fail(kFailed, error);
}

}  // namespace vigil::ctl::backup_io
