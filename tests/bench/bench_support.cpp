#include "bench_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace bench {
namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int) { g_interrupted = 1; }

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string read_text(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// The number after `key` at the start of a line of a /proc/PID/status-style
// text, 0 if absent. Anchored because "voluntary_ctxt_switches:" is also the
// tail of "nonvoluntary_ctxt_switches:".
long long status_field(const std::string& text, const char* key) {
    std::size_t at = text.rfind(key, 0) == 0 ? 0 : text.find(std::string("\n") + key);
    if (at == std::string::npos) return 0;
    if (text[at] == '\n') ++at;
    std::size_t pos = at + std::strlen(key);
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    long long value = 0;
    std::from_chars(text.data() + pos, text.data() + text.size(), value);
    return value;
}

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("signal ") + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

}  // namespace

Ns now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<Ns>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

Ns seconds(double s) { return static_cast<Ns>(s * static_cast<double>(kNsPerSec)); }

void become_subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

void install_interrupt_handlers() {
    struct sigaction sa{};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: poll() must return EINTR so waits notice
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

TempDir::TempDir() {
    char tmpl[] = "/tmp/vigil-bench.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw Failure(errno_text("mkdtemp"));
    path_ = tmpl;
}

TempDir::~TempDir() {
    if (keep_) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
}

void write_file(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw Failure("cannot write " + file.string());
}

HelloSocket::HelloSocket(fs::path path) : path_(std::move(path)) {
    sockaddr_un addr{};
    if (path_.native().size() >= sizeof addr.sun_path) throw Failure("socket path too long: " + path_.string());
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) throw Failure(errno_text("socket"));
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        const auto msg = errno_text("bind " + path_.string());
        close(fd_);
        throw Failure(msg);
    }
}

HelloSocket::~HelloSocket() {
    close(fd_);
    unlink(path_.c_str());
}

std::optional<Hello> HelloSocket::read() {
    for (;;) {
        char buf[128];
        const ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return std::nullopt;
            throw Failure(errno_text("recv hello"));
        }
        Hello h{};
        long long pid = 0;
        const char* end = buf + n;
        auto r = std::from_chars(buf, end, pid);
        if (r.ec == std::errc{} && r.ptr < end && *r.ptr == ' ') r = std::from_chars(r.ptr + 1, end, h.ns);
        if (r.ec != std::errc{} || pid <= 0) continue;  // not a bench_child hello: ignore it
        h.pid = static_cast<pid_t>(pid);
        return h;
    }
}

Process::Process(const std::vector<std::string>& argv, const fs::path& log) : log_(log) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) throw Failure(errno_text("open " + log.string()));
    const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    // exec failures come back through this pipe; a clean exec just closes it
    int report[2];
    if (devnull < 0 || pipe2(report, O_CLOEXEC) < 0) {
        const auto msg = errno_text("open /dev/null or pipe2");
        close(out);
        if (devnull >= 0) close(devnull);
        throw Failure(msg);
    }

    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
        setpgid(0, 0);  // our own group: a Ctrl-C on the terminal reaches the driver only
        // If the driver dies without cleaning up, the program is told to stop too.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        dup2(devnull, 0);
        dup2(out, 1);
        dup2(out, 2);
        execv(args[0], args.data());
        const int err = errno;
        (void)!write(report[1], &err, sizeof err);
        _exit(127);
    }
    const int fork_errno = errno;
    close(out);
    close(devnull);
    close(report[1]);
    if (pid_ < 0) {
        close(report[0]);
        errno = fork_errno;
        throw Failure(errno_text("fork"));
    }
    setpgid(pid_, pid_);  // both sides set it, so it holds whichever runs first

    int err = 0;
    ssize_t n;
    do n = ::read(report[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == static_cast<ssize_t>(sizeof err)) {
        waitpid(pid_, nullptr, 0);
        ended_ = "exec failed";
        errno = err;
        throw Failure(errno_text("cannot execute " + argv[0]));
    }
    pidfd_ = pidfd_open(pid_);
    if (pidfd_ < 0) {
        const auto msg = errno_text("pidfd_open");
        stop(seconds(5));
        throw Failure(msg);
    }
}

Process::~Process() {
    stop(seconds(15));
    if (pidfd_ >= 0) close(pidfd_);
}

std::optional<std::string> Process::exited() {
    if (ended_) return ended_;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) ended_ = describe_status(status);
    return ended_;
}

bool Process::wait_exit(Ns deadline) {
    // Also used by cleanup after an interrupt, so EINTR here just means "again".
    for (Ns left = deadline - now_ns(); left > 0 && !exited() && pidfd_ >= 0; left = deadline - now_ns()) {
        pollfd p{pidfd_, POLLIN, 0};
        poll(&p, 1, static_cast<int>((left + kNsPerMs - 1) / kNsPerMs));
    }
    return exited().has_value();
}

void Process::stop(Ns grace) {
    if (pid_ <= 0 || exited()) return;
    kill(pid_, SIGTERM);
    if (wait_exit(now_ns() + grace)) return;
    kill(-pid_, SIGKILL);  // its group: the supervisor and whatever it left in it
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {}
    ended_ = describe_status(status) + " (after SIGKILL: it ignored SIGTERM)";
}

std::string Process::log_tail(std::size_t lines) const {
    const std::string text = read_text(log_);
    std::size_t pos = text.size();
    if (pos > 0 && text[pos - 1] == '\n') --pos;
    for (std::size_t seen = 0; pos > 0; --pos) {
        if (text[pos - 1] == '\n' && ++seen == lines) break;
    }
    return text.substr(pos);
}

Wait wait_hello(HelloSocket& sock, Process* watch, Ns deadline, Hello& out) {
    for (;;) {
        if (auto h = sock.read()) {
            out = *h;
            return Wait::hello;
        }
        if (g_interrupted) throw Interrupted();
        const Ns left = deadline - now_ns();
        if (left <= 0) return Wait::deadline;
        pollfd fds[2] = {{sock.fd(), POLLIN, 0}, {watch ? watch->pidfd() : -1, POLLIN, 0}};
        // round up: a 0 ms timeout with time left would spin
        const int rc = poll(fds, 2, static_cast<int>((left + kNsPerMs - 1) / kNsPerMs));
        if (rc < 0 && errno != EINTR) throw Failure(errno_text("poll"));
        if (rc > 0 && (fds[1].revents & POLLIN) && !(fds[0].revents & POLLIN)) {
            if (auto how = watch->exited()) throw Failure("the supervisor exited (" + *how + ")");
        }
    }
}

int kill_leftovers(const std::string& marker) {
    int killed = 0;
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return 0;
    const pid_t self = getpid();
    while (const dirent* e = readdir(proc)) {
        pid_t pid = 0;
        const char* end = e->d_name + std::strlen(e->d_name);
        if (std::from_chars(e->d_name, end, pid).ptr != end || pid <= 0 || pid == self) continue;
        std::string cmdline = read_text(fs::path("/proc") / e->d_name / "cmdline");
        if (cmdline.find(marker) == std::string::npos) continue;
        if (kill(pid, SIGKILL) == 0) ++killed;
        // Orphans were reparented to the driver (a subreaper): reap them, so
        // that none is left a zombie. ECHILD if it went elsewhere.
        while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
    }
    closedir(proc);
    while (waitpid(-1, nullptr, WNOHANG) > 0) {}  // other orphans that have already ended
    return killed;
}

ProcSample sample_process(pid_t pid) {
    ProcSample s;
    const fs::path dir = fs::path("/proc") / std::to_string(pid);
    s.rss_kb = static_cast<long>(status_field(read_text(dir / "status"), "VmRSS:"));

    // Fields after the ")" that closes comm: state is field 3, utime 14, stime 15.
    const std::string stat = read_text(dir / "stat");
    const auto close_paren = stat.rfind(')');
    if (close_paren != std::string::npos) {
        std::istringstream fields(stat.substr(close_paren + 1));
        std::string field;
        long long utime = 0, stime = 0;
        for (int i = 3; i <= 15 && fields >> field; ++i) {
            if (i == 14) utime = std::stoll(field);
            if (i == 15) stime = std::stoll(field);
        }
        s.cpu_ticks_ns = (utime + stime) * (kNsPerSec / sysconf(_SC_CLK_TCK));
    }

    clockid_t clock{};
    timespec ts{};
    if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &ts) == 0)
        s.cpu_clock_ns = static_cast<Ns>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;

    // /proc/PID/status counts the main thread's switches only; a supervisor
    // with helper threads wakes those too.
    std::error_code ec;
    for (const auto& task : fs::directory_iterator(dir / "task", ec)) {
        const std::string text = read_text(task.path() / "status");
        s.ctx_switches += status_field(text, "voluntary_ctxt_switches:") +
                          status_field(text, "nonvoluntary_ctxt_switches:");
    }
    return s;
}

}  // namespace bench
