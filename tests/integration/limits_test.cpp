// Resource limits through cgroups, with real allocations and forks.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;

TEST_CASE("limits: a program allocating past memory_limit is OOM-killed and reported so", "[limits]") {
    VIGIL_SKIP_UNLESS(Prerequisites().cgroups());
    Vigild v("[program:hog]\ncommand = " + child_path() +
             " --alloc 200\nmemory_limit = 64M\nstartsecs = 0\nbackoff = 5s,2,60s\n");
    v.start();
    REQUIRE(v.expect("hog: RUNNING -> BACKOFF: killed by the OOM killer \\(memory_limit reached\\)", 20s));
    std::string out;
    v.ctl({"status", "hog"}, &out);
    CHECK(out.find("killed by the OOM killer") != std::string::npos);
    const std::string m = raw_exchange(v.socket_path(), "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(m.find("vigil_program_oom_kills_total{name=\"hog\"} 1") != std::string::npos);
}

TEST_CASE("limits: pids_limit caps the forks of a program", "[limits]") {
    VIGIL_SKIP_UNLESS(Prerequisites().cgroups());
    TempDir d;
    Vigild v("[program:forker]\ncommand = " + child_path() + " --forks 20 " + (d / "forks") +
             "\npids_limit = 5\nstartsecs = 0\n");
    v.start();
    auto lines = wait_for_lines(d / "forks", 1);
    REQUIRE(lines);
    CHECK(std::stoi((*lines)[0]) == 4);  // itself plus four children
    CHECK(v.terminate() == 0);
}

TEST_CASE("limits: stopping a limited program kills its whole tree, escaped groups too", "[limits]") {
    VIGIL_SKIP_UNLESS(Prerequisites().cgroups());
    TempDir d;
    // setsid puts the grandchild in its own session: the process group kill
    // misses it, the cgroup does not.
    Vigild v("[program:escaper]\ncommand = /bin/sh -c 'setsid " + child_path() + " --record " + (d / "esc") +
             " & exec " + child_path() + "'\npids_limit = 50\nstartsecs = 0\n");
    v.start();
    auto lines = wait_for_lines(d / "esc", 1);
    REQUIRE(lines);
    const pid_t escaped = std::stoi((*lines)[0]);
    REQUIRE(v.expect("escaper: STARTING -> RUNNING"));
    CHECK(v.ctl({"stop", "escaper"}) == 0);
    CHECK(wait_gone(escaped, 5s));
    CHECK(v.terminate() == 0);
}
