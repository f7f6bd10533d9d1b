// Plumbing of the supervisor benchmark: clock, temp dir, the hello socket,
// running a supervisor as the driver's child, and reading /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

using Ns = std::int64_t;
constexpr Ns kNsPerMs = 1'000'000;
constexpr Ns kNsPerSec = 1'000'000'000;

Ns now_ns();  // CLOCK_MONOTONIC, the clock bench_child stamps its hello with
Ns seconds(double s);

// The driver's measurement failed; the message says what and why.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// SIGINT/SIGTERM reached the driver: unwind, clean up, stop. Not a
// std::exception, so that handlers for failures let it through.
struct Interrupted {};
void install_interrupt_handlers();
// Children a supervisor leaves behind are reparented to the driver, which can
// then reap them instead of leaving zombies to whoever runs it.
void become_subreaper();

// mkdtemp under /tmp, removed with everything in it unless keep() was called.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    void keep() { keep_ = true; }

private:
    std::filesystem::path path_;
    bool keep_ = false;
};

void write_file(const std::filesystem::path& file, const std::string& text);

struct Hello {
    pid_t pid;
    Ns ns;  // the child's CLOCK_MONOTONIC when its main() began
};

// The driver's end of the Unix datagram socket every bench_child reports to.
class HelloSocket {
public:
    explicit HelloSocket(std::filesystem::path path);
    ~HelloSocket();
    HelloSocket(const HelloSocket&) = delete;
    HelloSocket& operator=(const HelloSocket&) = delete;
    int fd() const { return fd_; }
    const std::filesystem::path& path() const { return path_; }
    std::optional<Hello> read();  // one queued hello, if any (non-blocking)

private:
    std::filesystem::path path_;
    int fd_ = -1;
};

// A program run as the driver's child (a supervisor under test, or bench_child
// for the reference figures), in its own process group, its stdout and stderr
// in a log file. The destructor stops it.
class Process {
public:
    Process(const std::vector<std::string>& argv, const std::filesystem::path& log);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    int pidfd() const { return pidfd_; }
    // Reaps it if it has exited; returns how it ended ("exit 1", "signal 9").
    std::optional<std::string> exited();
    // Waits on the pidfd until it exits (true) or the deadline passes.
    bool wait_exit(Ns deadline);
    // SIGTERM, wait until the deadline, then SIGKILL. Idempotent.
    void stop(Ns grace);
    std::string log_tail(std::size_t lines = 15) const;

private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::optional<std::string> ended_;
    std::filesystem::path log_;
};

enum class Wait { hello, deadline };
// Waits for one hello until `deadline` (CLOCK_MONOTONIC ns). Throws Failure if
// `watch` (when given) exits meanwhile, Interrupted on SIGINT/SIGTERM.
Wait wait_hello(HelloSocket& sock, Process* watch, Ns deadline, Hello& out);

// SIGKILLs every process whose command line names `marker` (the run's unique
// hello socket path): children a supervisor left behind. Returns how many.
int kill_leftovers(const std::string& marker);

struct ProcSample {
    long rss_kb = 0;          // VmRSS
    Ns cpu_ticks_ns = 0;      // utime + stime of the whole process, tick resolution
    Ns cpu_clock_ns = 0;      // the process CPU-time clock, ns resolution
    long long ctx_switches = 0;  // voluntary + involuntary, summed over threads
};
ProcSample sample_process(pid_t pid);

}  // namespace bench
