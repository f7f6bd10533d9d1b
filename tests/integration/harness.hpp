// Test fixtures that run the real vigild binary in a temp dir and wait on
// what it says (its log on stderr) or on files its children write — always
// an event with a deadline, never a sleep.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "skip.hpp"

namespace vigil::test {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

std::string child_path();  // the test_child binary
// A copy of `binary` in `dir`/bin (mode 0755), `dir` made traversable (0755):
// what runs as another user (nobody, postgres) must be run from a place that
// user can reach, and the build tree may not be one (a clone in /root, 0700).
// Returns the copy's path.
std::string install_reachable(const TempDir& dir, const std::string& binary);
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);
std::vector<std::string> lines_of(const std::string& text);

// Waits until `path` exists and holds at least `min_lines` lines, watching
// its directory with inotify. Returns the lines, or nullopt at the deadline.
std::optional<std::vector<std::string>> wait_for_lines(const std::string& path, std::size_t min_lines,
                                                       Ms timeout = 10s);
// How many times `needle` occurs in `text`.
std::size_t count_in(const std::string& text, const std::string& needle);
// Waits until the files at `path` (a file, or every file of a directory)
// hold `needle` at least `times` times, watching with inotify: a server's
// log line that says a state was reached.
bool wait_for_text(const std::string& path, const std::string& needle, std::size_t times = 1, Ms timeout = 60s);
// A loopback TCP port nobody listens on right now (bound, read, released).
int free_port();
// Waits until process `pid` (any process, not only a child) has exited.
bool wait_gone(pid_t pid, Ms timeout = 10s);

class Vigild {
public:
    // `programs` is the INI text after the generated [vigil] section, which
    // points control_socket, state_dir and log_dir into the temp dir;
    // `vigil_keys` are more lines for that section ("limits = required\n").
    explicit Vigild(const std::string& programs, const std::string& log_level = "info",
                    const std::string& vigil_keys = "");
    ~Vigild();

    // `wrapper` runs vigild under another command (e.g. unshare for PID 1).
    void start(std::vector<std::string> extra_args = {}, std::vector<std::string> wrapper = {});
    // The environment of the next start(): the test's own, with `name` set
    // to `value` (or removed, with nullopt). E.g. NOTIFY_SOCKET for systemd.
    void set_env(const std::string& name, std::optional<std::string> value);
    pid_t pid() const { return pid_; }
    const TempDir& dir() const { return dir_; }
    std::string config_path() const { return dir_ / "vigil.ini"; }

    // Waits for a log line matching `re` after the cursor; on a match moves
    // the cursor past it and returns the line.
    std::optional<std::string> expect(const std::string& re, Ms timeout = 10s);
    // How many lines vigild has logged so far, and a wait (without moving
    // the cursor) until it logs more than `seen` — to re-check a condition
    // whenever vigild reports a change.
    std::size_t line_count() const;
    bool wait_for_more(std::size_t seen, Ms timeout) const;
    // vigild closed its output (it exited): wait_for_more returns at once.
    bool output_ended() const;
    // Like expect() but from `from` and without moving the cursor.
    std::optional<std::size_t> find_line(const std::string& re, std::size_t from = 0) const;
    std::vector<std::string> log() const;
    std::string log_text() const;

    std::string socket_path() const { return dir_ / "vigil.sock"; }
    // Runs `vigilctl -s SOCKET args…`; returns its exit code, output in *out.
    int ctl(const std::vector<std::string>& args, std::string* out = nullptr, Ms timeout = 60s) const;

    // SIGTERM, then waits for the exit; returns the exit code (-1 on timeout).
    int terminate(Ms timeout = 20s);
    // Waits for vigild to exit on its own; returns the exit code or -1.
    int wait_exit(Ms timeout = 10s);

private:
    void read_loop(int fd);

    TempDir dir_;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::thread reader_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::vector<std::string> lines_;
    std::size_t cursor_ = 0;
    bool eof_ = false;
    std::vector<std::pair<std::string, std::optional<std::string>>> env_;
};

// ctest counts a test that exits with this code as SKIPPED
// (SKIP_RETURN_CODE in tests/CMakeLists.txt; the one of tests/common/skip.hpp).
inline constexpr int kSkipCode = kSkipExitCode;
// Reports why and ends the test process as SKIPPED at once, from anywhere
// (VIGIL_SKIP/VIGIL_SKIP_UNLESS of tests/common end only the test case, and
// only from its body). Call it before starting anything: no destructor runs.
[[noreturn]] void skip(const std::string& why);

// Runs a command to completion, capturing stdout+stderr; returns exit code.
int run(const std::vector<std::string>& argv, std::string* output = nullptr, Ms timeout = 30s);
// `query` through psql as postgres over TCP to 127.0.0.1:`port` (trust on
// loopback): its output, trimmed, or "error" (psql's output in the test's log).
std::string psql(int port, const std::string& query);
// The paths beside `data_dir` that `vigilctl restore` moved old data to
// (DATA.before-restore-<time>).
std::vector<std::string> asides_of(const std::string& data_dir);

// Sends raw bytes to a Unix socket and returns everything read back until
// the peer closes or `timeout` passes (for malformed-request tests).
std::string raw_exchange(const std::string& socket, const std::string& bytes, Ms timeout = 15s,
                         bool half_close = false);

// A connection kept open across reads, for streamed replies.
class SocketClient {
public:
    explicit SocketClient(const std::string& socket);
    ~SocketClient();
    void send(const std::string& bytes);
    // Reads until everything received so far contains `needle`.
    bool read_until(const std::string& needle, Ms timeout = 10s);
    const std::string& received() const { return received_; }

private:
    int fd_ = -1;
    std::string received_;
};

// Every process on the machine, from /proc/PID/stat.
struct ProcInfo {
    pid_t pid;
    pid_t ppid;
    char state;
};
std::vector<ProcInfo> all_processes();

// Pids of vigild's child processes in state Z (zombies).
std::vector<pid_t> zombie_children(pid_t parent);

}  // namespace vigil::test
