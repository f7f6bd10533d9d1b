// The sd_notify protocol served to children: READY=1 as the start
// condition, STATUS=, and the watchdog.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace vigil::test;

TEST_CASE("notify: READY=1 from the child makes it RUNNING, not startsecs", "[notify]") {
    TempDir d;
    // The child waits for the test's go file before it says READY=1.
    Vigild v("[program:svc]\ncommand = /bin/sh -c 'while [ ! -f " + (d / "go") + " ]; do sleep 0.05; done; exec " +
             child_path() + " --notify \"STATUS=serving\" --notify READY=1'\nnotify = yes\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("svc: STARTING: pid [0-9]+ spawned, waiting for READY=1"));
    CHECK_FALSE(v.find_line("svc: STARTING -> RUNNING"));
    write_file(d / "go", "");
    REQUIRE(v.expect("svc: STARTING -> RUNNING: READY=1"));
}

TEST_CASE("notify: a READY=1 from another process is ignored", "[notify]") {
    // A grandchild says READY=1: only the main process may (NotifyAccess=main).
    Vigild v("[program:svc]\ncommand = /bin/sh -c '" + child_path() +
                 " --notify READY=1 --exit 0; exec sleep 1000'\nnotify = yes\nstartsecs = 0\n",
             "debug");
    v.start();
    REQUIRE(v.expect("svc: ignored READY=1 from pid"));
    CHECK_FALSE(v.find_line("svc: STARTING -> RUNNING"));
}

TEST_CASE("notify: a child whose WATCHDOG=1 pings stop is restarted", "[notify]") {
    Vigild v("[program:dog]\ncommand = " + child_path() +
             " --notify READY=1 --notify WATCHDOG=1\nnotify = yes\nwatchdog = 300ms\nbackoff = 100ms,1,100ms\n");
    v.start();
    REQUIRE(v.expect("dog: STARTING -> RUNNING: READY=1"));
    REQUIRE(v.expect("dog: no WATCHDOG=1 for 300 ms: restarting it"));
    REQUIRE(v.expect("dog: RUNNING -> STOPPING: failed its liveness check"));
    REQUIRE(v.expect("dog: STOPPING -> BACKOFF"));
    REQUIRE(v.expect("dog: STARTING -> RUNNING: READY=1"));
}
