#include "tests/health/support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace vigil::health::test {

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0)
        throw std::runtime_error(std::string("free_port: ") + std::strerror(errno));
    ::close(fd);
    return ntohs(addr.sin_port);
}

TempDir::TempDir() {
    std::string tmpl = "/tmp/vigil-health-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& text, bool append) {
    std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

bool run_until(boost::asio::io_context& io, const std::function<bool()>& pred, milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        const auto left = deadline - std::chrono::steady_clock::now();
        if (left <= 0s) return pred();
        if (io.stopped()) io.restart();
        // Bounded so the deadline is checked even when nothing happens.
        io.run_one_for(std::min<std::chrono::steady_clock::duration>(left, 20ms));
    }
    return true;
}

ProbeResult run_probe(boost::asio::io_context& io, Probe& probe, milliseconds limit) {
    std::optional<ProbeResult> result;
    probe.run([&](ProbeResult r) { result = std::move(r); });
    if (!run_until(io, [&] { return result.has_value(); }, limit)) {
        probe.cancel();
        throw std::runtime_error("probe did not complete within the test's limit");
    }
    return *result;
}

ProbeResult probe_until(boost::asio::io_context& io, Probe& probe, const std::function<bool(const ProbeResult&)>& accept,
                        milliseconds limit, milliseconds pause) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    ProbeResult last = run_probe(io, probe, limit);
    while (!accept(last) && std::chrono::steady_clock::now() < deadline) {
        // Spaced by running the loop, not by sleeping: other handlers
        // (servers in this process) keep going meanwhile.
        const auto resume = std::chrono::steady_clock::now() + pause;
        run_until(io, [&] { return std::chrono::steady_clock::now() >= resume; }, pause + 10ms);
        last = run_probe(io, probe, limit);
    }
    return last;
}

config::HealthCheck make_check(config::HealthKind kind, std::string host, std::uint16_t port, milliseconds timeout) {
    config::HealthCheck hc;
    hc.kind = kind;
    hc.host = std::move(host);
    hc.port = port;
    hc.timeout = timeout;
    hc.path = "/";
    hc.target = "test";
    return hc;
}

config::HealthCheck exec_check(std::string command, milliseconds timeout) {
    config::HealthCheck hc;
    hc.kind = config::HealthKind::exec;
    hc.target = std::move(command);
    hc.timeout = timeout;
    return hc;
}

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Waits for a pidfd to become readable (the process ended).
bool wait_pidfd(int fd, milliseconds limit) {
    pollfd p{fd, POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
        const int n = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log, const std::string& user) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::optional<passwd> pw;
    std::vector<char> pwbuf(16384);
    if (!user.empty()) {
        passwd entry{};
        passwd* found = nullptr;
        if (::getpwnam_r(user.c_str(), &entry, pwbuf.data(), pwbuf.size(), &found) != 0 || !found)
            throw std::runtime_error("no user " + user);
        pw = entry;
    }
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) throw std::runtime_error("cannot open " + log);
    if (pw && ::fchown(out, pw->pw_uid, pw->pw_gid) < 0) throw std::runtime_error("cannot chown " + log);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::setsid();
        const int in = ::open("/dev/null", O_RDONLY);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        if (pw) {
            if (::initgroups(pw->pw_name, pw->pw_gid) < 0 || ::setgid(pw->pw_gid) < 0 || ::setuid(pw->pw_uid) < 0)
                ::_exit(125);
            ::setenv("HOME", pw->pw_dir, 1);
            ::setenv("USER", pw->pw_name, 1);
        }
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(out);
    if (pid < 0) throw std::runtime_error("fork failed");
    return pid;
}

}  // namespace

ChildProcess::~ChildProcess() {
    if (pid_ > 0) stop(SIGKILL, 10s);
}

void ChildProcess::start(const std::vector<std::string>& argv, const std::string& log, const std::string& user) {
    pid_ = spawn(argv, log, user);
    pidfd_ = pidfd_open(pid_);
}

void ChildProcess::stop(int sig, milliseconds limit) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    if (!wait_pidfd(pidfd_, limit)) {
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        wait_pidfd(pidfd_, 10s);
    }
    int status;
    ::waitpid(pid_, &status, 0);
    ::kill(-pid_, SIGKILL);  // whatever it left in its group (postgres' backends)
    ::close(pidfd_);
    pid_ = -1;
    pidfd_ = -1;
}

int run_command(const std::vector<std::string>& argv, const std::string& log, const std::string& user,
                milliseconds limit) {
    const pid_t pid = spawn(argv, log, user);
    const int fd = pidfd_open(pid);
    const bool ended = wait_pidfd(fd, limit);
    if (!ended) ::kill(-pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(fd);
    if (!ended) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool wait_gone(pid_t pid, milliseconds limit) {
    const int fd = pidfd_open(pid);
    if (fd < 0) return errno == ESRCH;
    const bool gone = wait_pidfd(fd, limit);
    ::close(fd);
    return gone;
}

long peak_rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

}  // namespace vigil::health::test
