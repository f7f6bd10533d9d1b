// `vigilctl reexec`: vigild re-executes its binary in place. Every program
// keeps its pid and state (RUNNING, BACKOFF with its delay, healthy), stays
// supervised (a kill -9 is respawned), its output keeps reaching its log with
// no line lost, a held socket is the same socket, the control socket answers
// throughout; what cannot be carried is refused first with the reason, and a
// failed exec leaves the old image running.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "harness.hpp"

using namespace vigil::test;
using json = nlohmann::json;

namespace {

std::string listen_child() { return std::string(VIGIL_CHILDREN_DIR) + "/listen_child"; }

std::map<std::string, json> statuses(const Vigild& v) {
    std::string out;
    REQUIRE(v.ctl({"status", "--json"}, &out) <= 3);
    std::map<std::string, json> m;
    for (const auto& p : json::parse(out)) m[p["name"].get<std::string>()] = p;
    return m;
}

// Whether vigild has logged a line matching `re` (anywhere), waiting for
// each new line until the deadline: for lines whose order among others is
// not fixed.
bool logged(const Vigild& v, const std::string& re, Ms timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const std::size_t seen = v.line_count();
        if (v.find_line(re)) return true;
        const auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms || !v.wait_for_more(seen, left)) return v.find_line(re).has_value();
    }
}

// One line from the server at 127.0.0.1:port ("pid N fd 3 name svc"), or "".
std::string ask(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        pollfd p{fd, POLLIN, 0};
        char buf[256];
        while (::poll(&p, 1, 10000) > 0) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

// The "tick N" numbers of a log, in order.
std::vector<long> ticks_in(const std::string& path) {
    std::vector<long> out;
    for (const auto& l : lines_of(read_file(path)))
        if (l.rfind("tick ", 0) == 0) out.push_back(std::stol(l.substr(5)));
    return out;
}

// Asks GET /v1/version on fresh connections until `stop`, counting answers
// that are not 200 (a refused connect or a cut reply counts too).
struct Hammer {
    explicit Hammer(std::string socket) : socket_(std::move(socket)) {
        thread_ = std::thread([this] {
            for (int i = 0; i < 100000 && !stop_; ++i) {
                const std::string r =
                    raw_exchange(socket_, "GET /v1/version HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n");
                (r.rfind("HTTP/1.1 200", 0) == 0 ? ok_ : failed_)++;
            }
        });
    }
    ~Hammer() { finish(); }
    void finish() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::string socket_;
    std::atomic<bool> stop_{false};
    std::atomic<int> ok_{0}, failed_{0};
    std::thread thread_;
};

}  // namespace

TEST_CASE("reexec: every program keeps its pid, state, output and supervision", "[reexec]") {
    TempDir d;
    const int port = free_port();
    write_file(d / "ok", "");
    Vigild v("[program:ticker]\ncommand = " + child_path() + " --ticks 2\nstartsecs = 0\nbackoff = 100ms,1,100ms\n"
             "stdout_logfile = " + (d / "ticker.log") + "\n\n"
             "[program:checked]\ncommand = " + child_path() + "\nstartsecs = 0\nhealthcheck = exec:test -f " +
             (d / "ok") + "\nhealth_interval = 100ms\nhealth_timeout = 2s\nhealth_retries = 1\n\n"
             "[program:looping]\ncommand = " + child_path() + " --exit 3\nstartsecs = 1s\nbackoff = 60s,1,60s\n\n"
             "[program:svc]\ncommand = " + listen_child() + "\nsockets = tcp://127.0.0.1:" + std::to_string(port) +
             "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("ticker: STARTING -> RUNNING"));
    REQUIRE(v.expect("checked: health starting -> healthy"));
    REQUIRE(logged(v, "looping: STARTING -> BACKOFF"));
    REQUIRE(logged(v, "svc: STARTING -> RUNNING"));
    auto before = statuses(v);
    REQUIRE(before["looping"]["state"] == "BACKOFF");
    const std::string served_before = ask(port);
    REQUIRE(served_before.rfind("pid " + std::to_string(before["svc"]["pid"].get<int>()) + " ", 0) == 0);
    REQUIRE(wait_for_lines(d / "ticker.log", 5));

    Hammer hammer(v.socket_path());
    const std::size_t before_reexec = v.line_count();
    std::string out;
    REQUIRE(v.ctl({"reexec"}, &out) == 0);
    INFO(out);
    CHECK(out.find("re-executed in place") != std::string::npos);
    REQUIRE(v.expect("re-executed in place .*: 4 processes carried over, none restarted"));
    const long ticks_at_reexec = ticks_in(d / "ticker.log").back();

    auto after = statuses(v);
    for (const char* name : {"ticker", "checked", "svc"}) {
        INFO(name);
        CHECK(after[name]["pid"] == before[name]["pid"]);
        CHECK(after[name]["state"] == "RUNNING");
    }
    CHECK(after["checked"]["health"] == "healthy");
    CHECK(after["looping"]["state"] == "BACKOFF");  // still waiting out its 60 s, not started at once
    CHECK_FALSE(v.find_line("STOPPED -> STARTING", before_reexec));
    CHECK_FALSE(v.find_line("looping: .*BACKOFF -> STARTING", before_reexec));
    std::string pid_out;
    REQUIRE(v.ctl({"pid"}, &pid_out) == 0);
    CHECK(std::stoi(pid_out) == v.pid());
    // The held socket is the same socket, served by the same process.
    CHECK(ask(port) .rfind("pid " + std::to_string(before["svc"]["pid"].get<int>()) + " ", 0) == 0);

    // The control socket answered before, during and after the exec.
    hammer.finish();
    CHECK(hammer.failed_ == 0);
    CHECK(hammer.ok_ > 0);

    // No line lost: the ticks written before, during and after the exec are
    // all in the log, once each, in order.
    REQUIRE(wait_for_lines(d / "ticker.log", static_cast<std::size_t>(ticks_at_reexec) + 50));
    const auto ticks = ticks_in(d / "ticker.log");
    for (std::size_t i = 0; i < ticks.size(); ++i) {
        INFO("line " << i);
        REQUIRE(ticks[i] == static_cast<long>(i));
    }

    // Still supervised: health checks go on, a kill -9 is respawned, and the
    // new process's output reaches the same log.
    std::filesystem::remove(d / "ok");
    CHECK(v.expect("checked: health healthy -> unhealthy"));
    REQUIRE(::kill(before["ticker"]["pid"].get<int>(), SIGKILL) == 0);
    REQUIRE(v.expect("ticker: RUNNING -> BACKOFF: killed by SIGKILL"));
    REQUIRE(v.expect("ticker: STARTING -> RUNNING"));
    const std::size_t lines_now = lines_of(read_file(d / "ticker.log")).size();
    REQUIRE(wait_for_lines(d / "ticker.log", lines_now + 5));
    CHECK(statuses(v)["ticker"]["pid"] != before["ticker"]["pid"]);
    CHECK(v.terminate() == 0);
}

TEST_CASE("reexec: refused with the reason while an update is half-way or the file differs", "[reexec]") {
    TempDir d;
    Vigild v("[program:stubborn]\ncommand = " + child_path() + " --ignore-term\nstartsecs = 0\nstopwaitsecs = 30s\n\n"
             "[program:calm]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("stubborn: STARTING -> RUNNING"));
    REQUIRE(logged(v, "calm: STARTING -> RUNNING"));
    const auto before = statuses(v);

    // The file on disk no longer says what runs: the new image would read it.
    const std::string cfg = read_file(v.config_path());
    write_file(v.config_path(), cfg + "\n[program:extra]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    std::string err;
    CHECK(v.ctl({"reexec"}, &err) == 1);
    CHECK(err.find("differs from what runs (added: extra)") != std::string::npos);
    const std::string raw = raw_exchange(v.socket_path(), "POST /v1/reexec HTTP/1.1\r\nHost: v\r\nContent-Length: 0\r\n"
                                                          "Connection: close\r\n\r\n");
    CHECK(raw.rfind("HTTP/1.1 409", 0) == 0);

    // An update that replaces `stubborn` is waiting for it to stop (it
    // ignores SIGTERM for 30 s): carrying that over is refused.
    std::string edited = cfg;
    edited.replace(edited.find("--ignore-term"), 13, "--ignore-term --print changed");
    edited.replace(edited.find("stopwaitsecs = 30s"), 18, "stopwaitsecs = 1s");
    write_file(v.config_path(), edited);
    REQUIRE(v.ctl({"update"}) == 0);
    REQUIRE(v.expect("stubborn: RUNNING -> STOPPING"));
    CHECK(v.ctl({"reexec"}, &err) == 1);
    CHECK(err.find("an update is replacing stubborn") != std::string::npos);

    // vigild went on: same pid, `calm` untouched, and the control socket answers.
    std::string pid_out;
    REQUIRE(v.ctl({"pid"}, &pid_out) == 0);
    CHECK(std::stoi(pid_out) == v.pid());
    CHECK(statuses(v)["calm"]["pid"] == before.at("calm")["pid"]);
    CHECK(v.expect("re-exec refused: an update is replacing stubborn"));
    ::kill(before.at("stubborn")["pid"].get<int>(), SIGKILL);  // rather than wait out its 30 s
    CHECK(v.terminate() == 0);
}

TEST_CASE("reexec: a failed exec leaves the old image running, a replaced binary is the one executed",
          "[reexec]") {
    TempDir bin;
    const std::string copy = install_reachable(bin, VIGILD_PATH);
    Vigild v("[program:calm]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    // $1 is the harness's own vigild path: shifted away, the copy runs instead.
    v.start({}, {"/bin/sh", "-c", "shift; exec " + copy + " \"$@\"", "sh"});
    REQUIRE(v.expect("calm: STARTING -> RUNNING"));
    const auto before = statuses(v);

    // The binary is gone (/proc/self/exe reads "… (deleted)"): the exec
    // fails and this vigild goes on.
    REQUIRE(::unlink(copy.c_str()) == 0);
    std::string err;
    CHECK(v.ctl({"reexec"}, &err) == 1);
    CHECK(err.find("could not re-execute") != std::string::npos);
    REQUIRE(v.expect("re-exec failed, this vigild goes on: execv " + copy));
    CHECK(statuses(v)["calm"]["pid"] == before.at("calm")["pid"]);

    // A package upgrade puts a new file at the same path: that one is run.
    REQUIRE(install_reachable(bin, VIGILD_PATH) == copy);
    REQUIRE(v.ctl({"reexec"}, &err) == 0);
    REQUIRE(v.expect("re-executed in place"));
    CHECK(statuses(v)["calm"]["pid"] == before.at("calm")["pid"]);
    CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(v.pid()) + "/exe").string() == copy);
    CHECK(v.terminate() == 0);
}

TEST_CASE("reexec: a state the new image cannot take falls back to a crashed vigild's path", "[reexec]") {
    TempDir d;
    write_file(d / "state.json", R"({"version": 999})");  // what an image of another format would hand over
    Vigild v("[program:calm]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("calm: STARTING -> RUNNING"));
    const int old_pid = statuses(v)["calm"]["pid"].get<int>();
    REQUIRE(::kill(v.pid(), SIGKILL) == 0);
    REQUIRE(v.wait_exit() == 128 + SIGKILL);

    // The same state dir, the state on fd 7: refused, so what runs is
    // stopped (pid registry) and started fresh, never half-adopted.
    v.start({"--reexec-state", "7"}, {"/bin/sh", "-c", "exec 7<" + (d / "state.json") + "; exec \"$@\"", "sh"});
    REQUIRE(v.expect("cannot take over the previous image's state \\(state version 999, this vigild reads version 1\\)"));
    REQUIRE(v.expect("stopped 1 processes a previous vigild left running"));
    REQUIRE(v.expect("calm: STARTING -> RUNNING"));
    CHECK(wait_gone(old_pid, 5s));
    CHECK(statuses(v)["calm"]["pid"].get<int>() != old_pid);
    CHECK(v.terminate() == 0);
}
