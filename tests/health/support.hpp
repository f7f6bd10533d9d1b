// Helpers shared by the health suite: free ports, temp dirs, child servers
// run as another user, and waiting on the io_context until something
// happens or a deadline passes (never sleeping for state).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/model.hpp"
#include "supervisor/health/probe.hpp"

namespace vigil::health::test {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// A loopback TCP port nobody listens on right now.
std::uint16_t free_port();

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

void write_file(const std::string& path, const std::string& text, bool append = false);

// Runs handlers until pred() holds or `limit` passes; returns pred().
bool run_until(boost::asio::io_context& io, const std::function<bool()>& pred, milliseconds limit);

// One run of `probe`, waited for (its own timeout bounds it; `limit` is a
// safety net that fails the test instead of hanging it).
ProbeResult run_probe(boost::asio::io_context& io, Probe& probe, milliseconds limit = 30s);

// Runs `probe` again and again, `pause` apart, until `accept` likes a result
// or `limit` passes; returns the last result.
ProbeResult probe_until(boost::asio::io_context& io, Probe& probe, const std::function<bool(const ProbeResult&)>& accept,
                        milliseconds limit, milliseconds pause = 50ms);

config::HealthCheck make_check(config::HealthKind kind, std::string host, std::uint16_t port,
                               milliseconds timeout = 2000ms);
config::HealthCheck exec_check(std::string command, milliseconds timeout = 2000ms);

// A server process owned by a fixture: own process group, output to a log
// file, optionally as another user; killed and reaped when destroyed.
class ChildProcess {
public:
    ChildProcess() = default;
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    void start(const std::vector<std::string>& argv, const std::string& log, const std::string& user = "");
    // Signals it and waits up to `limit` for the exit (then SIGKILL).
    void stop(int sig, milliseconds limit = 20s);
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
};

// Runs a command to completion (as `user` if set); returns its exit status,
// or -1 if it did not end within `limit`.
int run_command(const std::vector<std::string>& argv, const std::string& log, const std::string& user = "",
                milliseconds limit = 120s);

// Waits up to `limit` for process `pid` (any process, not only a child) to
// be gone, through a pidfd. True if it is gone.
bool wait_gone(pid_t pid, milliseconds limit);

// Peak resident memory of this process so far (VmHWM), in KiB.
long peak_rss_kib();

}  // namespace vigil::health::test
