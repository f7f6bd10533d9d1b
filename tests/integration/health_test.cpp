// Health checks acted on by a real vigild: readiness keeps the process,
// liveness restarts it, dependencies wait for :healthy and hold dependents.
#include <catch2/catch.hpp>

#include <signal.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace vigil::test;
using json = nlohmann::json;

namespace {

// A check that passes while `flag` exists: the test flips it.
std::string checked(const std::string& name, const std::string& flag, const std::string& extra = "") {
    return "[program:" + name + "]\ncommand = " + child_path() + "\nstartsecs = 0\nhealthcheck = exec:test -f " + flag +
           "\nhealth_interval = 100ms\nhealth_timeout = 2s\nhealth_retries = 2\n" + extra + "\n";
}

json status_of(const Vigild& v, const std::string& name) {
    std::string out;
    v.ctl({"status", name, "--json"}, &out);
    return json::parse(out)[0];
}

}  // namespace

TEST_CASE("health: isolate marks it unhealthy and keeps the process", "[health]") {
    TempDir d;
    write_file(d / "ok", "");
    Vigild v(checked("web", d / "ok"));
    v.start();
    REQUIRE(v.expect("web: health starting -> healthy"));
    const int pid = status_of(v, "web")["pid"];
    CHECK(status_of(v, "web")["health"] == "healthy");
    std::string out;
    CHECK(v.ctl({"status", "web"}, &out) == 0);
    CHECK(std::regex_search(out, std::regex("web +RUNNING +pid [0-9]+, uptime [0-9:]+  healthy")));

    REQUIRE(::unlink((d / "ok").c_str()) == 0);
    REQUIRE(v.expect("web: health healthy -> unhealthy"));
    CHECK(status_of(v, "web")["pid"] == pid);
    CHECK(status_of(v, "web")["state"] == "RUNNING");
    CHECK(v.ctl({"health", "web"}, &out) == 3);
    CHECK(out.find("unhealthy") != std::string::npos);
    CHECK(out.find("FAIL") != std::string::npos);

    write_file(d / "ok", "");
    REQUIRE(v.expect("web: health unhealthy -> healthy"));
    CHECK(status_of(v, "web")["pid"] == pid);
    CHECK(v.ctl({"health", "web"}, &out) == 0);
}

TEST_CASE("health: on_unhealthy = restart restarts through the backoff", "[health]") {
    TempDir d;
    write_file(d / "ok", "");
    Vigild v(checked("live", d / "ok", "on_unhealthy = restart\nbackoff = 200ms,2,1s\n"));
    v.start();
    REQUIRE(v.expect("live: health starting -> healthy"));
    const int pid = status_of(v, "live")["pid"];
    REQUIRE(::unlink((d / "ok").c_str()) == 0);
    REQUIRE(v.expect("live: RUNNING -> STOPPING: failed its liveness check"));
    REQUIRE(v.expect("live: STOPPING -> BACKOFF: stopped after failing its liveness check"));
    write_file(d / "ok", "");
    REQUIRE(v.expect("live: STARTING -> RUNNING"));
    REQUIRE(v.expect("live: health starting -> healthy"));
    CHECK(status_of(v, "live")["pid"] != pid);
    CHECK(status_of(v, "live")["restarts"] == 1);
}

TEST_CASE("health: depends_on :healthy waits for the dependency to be healthy", "[health]") {
    TempDir d;
    Vigild v(checked("db", d / "ready") + "[program:app]\ncommand = " + child_path() +
             "\nstartsecs = 0\ndepends_on = db:healthy\n");
    v.start();
    REQUIRE(v.expect("db: STARTING -> RUNNING"));
    REQUIRE(v.expect("app: waiting for db"));
    CHECK(status_of(v, "app")["state"] == "STOPPED");
    CHECK(status_of(v, "app")["description"] == "waiting for db");
    std::string out;
    CHECK(v.ctl({"wait", "db", "--healthy", "--timeout", "1"}, &out) == 1);  // not yet
    write_file(d / "ready", "");
    CHECK(v.ctl({"wait", "db", "--healthy", "--timeout", "20"}, &out) == 0);
    REQUIRE(v.expect("app: STARTING -> RUNNING"));
    const auto db_healthy = v.find_line("db: health [a-z]+ -> healthy");
    const auto app_start = v.find_line("app: STOPPED -> STARTING");
    REQUIRE(db_healthy);
    REQUIRE(app_start);
    CHECK(*db_healthy < *app_start);
}

TEST_CASE("health: a dependent that fails while its dependency is down is held, then resumed", "[health]") {
    TempDir d;
    write_file(d / "ready", "");
    Vigild v(checked("db", d / "ready") + "[program:app]\ncommand = " + child_path() +
             "\nstartsecs = 0\nbackoff = 100ms,2,1s\ndepends_on = db:healthy\n");
    v.start();
    REQUIRE(v.expect("app: STARTING -> RUNNING"));
    REQUIRE(::unlink((d / "ready").c_str()) == 0);
    REQUIRE(v.expect("db: health healthy -> unhealthy"));
    // The app crashes against the dead database: held, not crash-looping.
    REQUIRE(::kill(status_of(v, "app")["pid"].get<int>(), SIGKILL) == 0);
    REQUIRE(v.expect("app: held until db is back"));
    REQUIRE(v.expect("app: BACKOFF -> STOPPED"));
    CHECK(status_of(v, "app")["description"] == "waiting for db");
    CHECK_FALSE(v.find_line("app: BACKOFF -> STARTING"));
    write_file(d / "ready", "");
    REQUIRE(v.expect("db: health unhealthy -> healthy"));
    REQUIRE(v.expect("app: STARTING -> RUNNING"));
}

TEST_CASE("health: the events stream and metrics carry health", "[health]") {
    TempDir d;
    Vigild v(checked("svc", d / "ok"));
    v.start();
    REQUIRE(v.expect("svc: STARTING -> RUNNING"));
    SocketClient c(v.socket_path());
    c.send("GET /v1/events HTTP/1.1\r\nHost: v\r\n\r\n");
    REQUIRE(c.read_until("\r\n\r\n"));
    write_file(d / "ok", "");
    REQUIRE(c.read_until("\"to\":\"healthy\""));
    CHECK(c.received().find("\"type\":\"health\"") != std::string::npos);
    const std::string m = raw_exchange(v.socket_path(), "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(m.find("vigil_program_healthy{name=\"svc\"} 1") != std::string::npos);
    CHECK(std::regex_search(m, std::regex("vigil_health_checks_total\\{name=\"svc\",result=\"ok\"\\} [1-9]")));
    CHECK(m.find("vigil_health_probe_duration_seconds_bucket{name=\"svc\",le=\"+Inf\"}") != std::string::npos);
}
