// POST /v1/programs/{spec}/wait and `vigilctl wait` (issue 14): vigild holds
// the request until the goal is reached, answers at once when it cannot be
// (FATAL, stopped by hand), and with 408 at the timeout.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace vigil::test;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string program(const std::string& name, const std::string& extra = "", const std::string& args = "") {
    return "[program:" + name + "]\ncommand = " + child_path() + " " + args + "\n" + extra + "\n";
}

// The status line and the JSON body of one request.
std::pair<int, json> post(const Vigild& v, const std::string& target, const std::string& body, Ms timeout = 30s) {
    const std::string res = raw_exchange(v.socket_path(),
                                         "POST " + target + " HTTP/1.1\r\nHost: v\r\nConnection: close\r\n"
                                         "Content-Type: application/json\r\nContent-Length: " +
                                             std::to_string(body.size()) + "\r\n\r\n" + body,
                                         timeout);
    if (res.rfind("HTTP/1.1 ", 0) != 0) return {0, json()};
    const auto start = res.find("\r\n\r\n");
    return {std::stoi(res.substr(9, 3)), json::parse(res.substr(start + 4), nullptr, false)};
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

TEST_CASE("wait: the server holds the request until RUNNING, healthy or stopped", "[control][wait]") {
    TempDir d;
    Vigild v(program("slow", "startsecs = 1\nautostart = false\n") +
             program("checked", "startsecs = 0\nhealthcheck = exec:test -e " + (d / "ready") +
                                    "\nhealth_interval = 100ms\nhealth_retries = 1000\n") +
             program("plain", "startsecs = 0\n"));
    v.start();
    REQUIRE(v.expect("plain: STARTING -> RUNNING"));

    // Started without waiting; the wait then sees STARTING -> RUNNING (1 s later).
    std::string out;
    REQUIRE(v.ctl({"start", "--no-wait", "slow"}, &out) == 0);
    CHECK(out == "slow: start requested\n");
    auto [status, j] = post(v, "/v1/programs/slow/wait", R"({"goal": "running", "timeout": 20})");
    CHECK(status == 200);
    CHECK(j["ok"] == true);
    CHECK(j["results"][0]["state"] == "RUNNING");

    // healthy: held until the check passes.
    std::tie(status, j) = post(v, "/v1/programs/checked/wait", R"({"goal": "healthy", "timeout": 1})");
    CHECK(status == 408);
    CHECK(j["ok"] == false);
    CHECK(j["error"].get<std::string>().find("timed out after 1 s") != std::string::npos);
    CHECK(j["results"][0]["message"].get<std::string>().find("not healthy within 1s, it is RUNNING") == 0);
    write_file(d / "ready", "");
    std::tie(status, j) = post(v, "/v1/programs/checked/wait", R"({"goal": "healthy", "timeout": 20})");
    CHECK(status == 200);
    CHECK(j["results"][0]["health"] == "healthy");

    // Without a healthcheck, RUNNING is healthy enough (vigilctl wait --healthy used to time out).
    const auto t0 = Clock::now();
    CHECK(v.ctl({"wait", "plain", "--healthy", "--timeout", "10"}, &out) == 0);
    CHECK(seconds_since(t0) < 5);

    // stopped: the stop is asked without waiting, the wait sees it through.
    REQUIRE(v.ctl({"stop", "--no-wait", "slow"}) == 0);
    std::tie(status, j) = post(v, "/v1/programs/slow/wait", R"({"goal": "stopped", "timeout": 20})");
    CHECK(status == 200);
    CHECK(j["results"][0]["state"] == "STOPPED");

    // Stopped by hand: nothing will start it, so the answer comes at once.
    const auto t1 = Clock::now();
    CHECK(v.ctl({"wait", "slow", "--timeout", "30"}, &out) == 1);
    CHECK(seconds_since(t1) < 5);
    CHECK(out.find("slow: ERROR (stopped by hand") != std::string::npos);

    // Bad requests.
    CHECK(post(v, "/v1/programs/slow/wait", R"({"goal": "asleep"})").first == 400);
    CHECK(post(v, "/v1/programs/slow/wait", R"({"timeout": 0})").first == 400);
    CHECK(post(v, "/v1/programs/nosuch/wait", "{}").first == 404);
    CHECK(v.ctl({"wait", "nosuch"}, &out) == 2);
}

TEST_CASE("wait: a program that gives up (FATAL) ends the wait at once", "[control][wait]") {
    Vigild v(program("broken", "startsecs = 1\nstartretries = 1\nbackoff = 50ms,1,50ms\n", "--exit 3"));
    v.start();
    const auto t0 = Clock::now();
    std::string out;
    CHECK(v.ctl({"wait", "broken", "--timeout", "60"}, &out) == 1);
    INFO(out);
    CHECK(seconds_since(t0) < 20);
    CHECK(out.find("broken: ERROR (FATAL") != std::string::npos);
}

TEST_CASE("wait: a timeout names the state each process is in", "[control][wait]") {
    Vigild v(program("never", "startsecs = 30\n"));
    v.start();
    REQUIRE(v.expect("never: STOPPED -> STARTING"));
    std::string out;
    CHECK(v.ctl({"wait", "never", "--timeout", "1"}, &out) == 1);
    CHECK(out == "never: ERROR (not RUNNING within 1s, it is STARTING)\n");
}
