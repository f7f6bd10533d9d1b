// vigild when file descriptors run out: a flood of idle control connections
// under a low limit must not make it spin on accept() nor lock vigilctl out
// for good, and the limit it raises for itself is not its programs'.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "harness.hpp"

using namespace vigil::test;

namespace {

// utime + stime of a process, in seconds.
double cpu_seconds(pid_t pid) {
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/stat"));
    std::string text = in.str();
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string f;
    double ticks = 0;
    for (int i = 3; fields >> f && i <= 15; ++i)
        if (i == 14 || i == 15) ticks += std::stod(f);
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Non-blocking connects: one that finds the backlog full (EAGAIN) is dropped,
// so opening stops short instead of blocking when vigild stops accepting.
// Blocking ones wait for their turn in the backlog.
std::vector<int> open_connections(const std::string& path, int n, bool blocking = false) {
    std::vector<int> fds;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    for (int i = 0; i < n; ++i) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | (blocking ? 0 : SOCK_NONBLOCK) | SOCK_CLOEXEC, 0);
        if (fd < 0) break;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) fds.push_back(fd);
        else ::close(fd);
    }
    return fds;
}

void close_all(std::vector<int>& fds) {
    for (int fd : fds) ::close(fd);
    fds.clear();
}

// The test itself holds up to 1,500 sockets.
void raise_own_limit() {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 2000) skip("the test needs 2,000 file descriptors; the hard limit is " +
                                  std::to_string(lim.rlim_max));
}

std::size_t count_lines(const Vigild& v, const std::string& re) {
    std::size_t n = 0;
    for (auto at = v.find_line(re); at; at = v.find_line(re, *at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("fd limit: out of descriptors, vigild pauses accepting instead of spinning, and serves again",
          "[integration]") {
    raise_own_limit();
    Vigild v("[program:a]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    // 64 as soft and hard limit: vigild cannot raise it, a few dozen
    // connections use up what its programs and logs leave.
    v.start({}, {"prlimit", "--nofile=64:64"});
    REQUIRE(v.expect("a: STARTING -> RUNNING"));

    auto fds = open_connections(v.socket_path(), 1500);
    INFO(fds.size() << " connections open");
    REQUIRE(v.expect("control socket: cannot accept a connection: Too many open files"));
    // What vigild burns while every descriptor is taken and connections keep
    // waiting, over up to 2 s: woken early by any new log line, which would
    // itself be the failure (a spinning accept logged once per attempt).
    const double before = cpu_seconds(v.pid());
    CHECK_FALSE(v.wait_for_more(v.line_count(), 2s));
    const double used = cpu_seconds(v.pid()) - before;
    CHECK(used < 0.2);  // it spun at ~0.7 s per second before the pause
    CHECK(count_lines(v, "cannot accept a connection") == 1);  // once per episode

    close_all(fds);
    std::string out;
    CHECK(v.ctl({"status"}, &out, 30s) == 0);
    CHECK(out.find("RUNNING") != std::string::npos);
    CHECK(v.expect("control socket: accepting connections again"));
    CHECK(v.terminate() == 0);
}

TEST_CASE("fd limit: at most 256 control connections at once, one more gets a 503 and no session",
          "[integration]") {
    raise_own_limit();
    Vigild v("[program:a]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("a: STARTING -> RUNNING"));
    // Blocking connects: vigild keeps accepting, so each one completes.
    auto fds = open_connections(v.socket_path(), 256, true);
    REQUIRE(fds.size() == 256);
    // The next one is accepted after all of them, and answered 503.
    const std::string reply = raw_exchange(v.socket_path(), "GET /v1/version HTTP/1.1\r\nHost: x\r\n\r\n", 10s);
    CHECK(reply.rfind("HTTP/1.1 503", 0) == 0);
    CHECK(reply.find("at most 256 control connections") != std::string::npos);
    CHECK(v.expect("control socket: 256 connections open, the most served at once"));
    close_all(fds);
    std::string out;
    CHECK(v.ctl({"status"}, &out, 30s) == 0);
    CHECK(v.terminate() == 0);
}

TEST_CASE("fd limit: vigild raises its soft limit to the hard one, programs get the one it started with",
          "[integration]") {
    TempDir d;
    ::chmod(d.path().c_str(), 0777);
    Vigild v("[program:limit]\ncommand = /bin/sh -c 'ulimit -n > " + (d / "n.tmp") + " && mv " + (d / "n.tmp") + " " +
             (d / "n") + " && exec sleep 1000'\nstartsecs = 0\n");
    v.start({}, {"prlimit", "--nofile=256:4096"});
    auto lines = wait_for_lines(d / "n", 1);
    REQUIRE(lines);
    CHECK((*lines)[0] == "256");
    std::string limits = read_file("/proc/" + std::to_string(v.pid()) + "/limits");
    const auto at = limits.find("Max open files");
    REQUIRE(at != std::string::npos);
    std::istringstream row(limits.substr(at + std::strlen("Max open files")));
    std::string soft, hard;
    row >> soft >> hard;
    CHECK(soft == "4096");
    CHECK(hard == "4096");
    CHECK(v.terminate() == 0);
}
