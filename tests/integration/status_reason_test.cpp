// What status and health say after an exit nobody asked for (issue 14,
// item 8): kill -9 is reported as the signal, not as the last (info) line
// the program printed; a liveness restart says it was one; `vigilctl
// health` lists the 10 results vigild keeps, each with its time.
#include <catch2/catch.hpp>

#include <signal.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace vigil::test;
using json = nlohmann::json;

namespace {

json status_of(const Vigild& v, const std::string& name) {
    std::string out;
    REQUIRE(v.ctl({"status", name, "--json"}, &out) <= 3);
    return json::parse(out)[0];
}

}  // namespace

TEST_CASE("status reason: kill -9 is reported as SIGKILL, not as the last line on stderr", "[control][status]") {
    Vigild v("[program:auth]\ncommand = " + child_path() +
             " --eprint 'auth-service listening on 127.0.0.1:9001'\nstartsecs = 0\nbackoff = 30s,1,30s\n");
    v.start();
    REQUIRE(v.expect("auth: STARTING -> RUNNING"));
    const int pid = status_of(v, "auth")["pid"];
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(v.expect("auth: RUNNING -> BACKOFF"));
    const json s = status_of(v, "auth");
    INFO(s.dump());
    CHECK(s["exit"] == "killed by SIGKILL");
    CHECK(s["exit_reason"] == "");
    CHECK(s["description"].get<std::string>().rfind("killed by SIGKILL, restarting in", 0) == 0);
    CHECK(s["description"].get<std::string>().find("listening") == std::string::npos);
    CHECK(v.find_line("auth: pid [0-9]+ ended \\(killed by SIGKILL\\)$"));
}

TEST_CASE("status reason: a liveness restart says so, with the failing check", "[control][status]") {
    TempDir d;
    write_file(d / "ok", "");
    Vigild v("[program:live]\ncommand = " + child_path() + "\nstartsecs = 0\nhealthcheck = exec:test -e " + (d / "ok") +
             "\nhealth_interval = 100ms\nhealth_retries = 1\non_unhealthy = restart\nbackoff = 30s,1,30s\n");
    v.start();
    REQUIRE(v.expect("live: health starting -> healthy"));
    REQUIRE(::unlink((d / "ok").c_str()) == 0);
    REQUIRE(v.expect("live: STOPPING -> BACKOFF"));
    const json s = status_of(v, "live");
    INFO(s.dump());
    CHECK(s["exit"] == "failed its liveness check, killed by SIGTERM");
    CHECK(s["exit_reason"].get<std::string>().rfind("last check: ", 0) == 0);
    CHECK(s["description"].get<std::string>().rfind("failed its liveness check, killed by SIGTERM: last check: ", 0) ==
          0);
}

TEST_CASE("status reason: vigilctl health lists the last 10 results with their times", "[control][health]") {
    Vigild v("[program:web]\ncommand = " + child_path() +
                 "\nstartsecs = 0\nhealthcheck = exec:true\nhealth_interval = 50ms\n",
             "debug");
    v.start();
    for (int i = 0; i < 12; ++i) REQUIRE(v.expect("web: check passed"));
    std::string out;
    CHECK(v.ctl({"health", "web"}, &out) == 0);
    INFO(out);
    const std::regex result("^    [0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}  ok +[0-9.]+ ms  .*$");
    int results = 0;
    for (const auto& line : lines_of(out)) results += std::regex_match(line, result) ? 1 : 0;
    CHECK(results == 10);
}
