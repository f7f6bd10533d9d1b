// Dependency order, stopping, process groups and orphans with a real vigild.
#include <catch2/catch.hpp>

#include <signal.h>

#include "harness.hpp"

using namespace vigil::test;

namespace {

std::string program(const std::string& name, const std::string& args, const std::string& extra = "") {
    return "[program:" + name + "]\ncommand = " + child_path() + " " + args + "\nstartsecs = 0\n" + extra + "\n";
}

pid_t first_pid(const std::string& file) {
    auto lines = wait_for_lines(file, 1);
    return lines ? std::stoi((*lines)[0]) : -1;
}

}  // namespace

TEST_CASE("shutdown: start in dependency order, stop in reverse", "[integration]") {
    Vigild v(program("app", "", "depends_on = cache db\n") + program("db", "") + program("cache", "", "depends_on = db\n"));
    v.start();
    REQUIRE(v.expect("app: STARTING -> RUNNING"));
    const auto db_up = v.find_line("db: STARTING -> RUNNING");
    const auto cache_start = v.find_line("cache: STOPPED -> STARTING");
    const auto cache_up = v.find_line("cache: STARTING -> RUNNING");
    const auto app_start = v.find_line("app: STOPPED -> STARTING");
    REQUIRE(db_up);
    REQUIRE(cache_start);
    REQUIRE(cache_up);
    REQUIRE(app_start);
    CHECK(*db_up < *cache_start);
    CHECK(*cache_up < *app_start);

    CHECK(v.terminate() == 0);
    const auto app_stopped = v.find_line("app: STOPPING -> STOPPED");
    const auto cache_stopping = v.find_line("cache: RUNNING -> STOPPING");
    const auto cache_stopped = v.find_line("cache: STOPPING -> STOPPED");
    const auto db_stopping = v.find_line("db: RUNNING -> STOPPING");
    REQUIRE(app_stopped);
    REQUIRE(cache_stopping);
    REQUIRE(cache_stopped);
    REQUIRE(db_stopping);
    CHECK(*app_stopped < *cache_stopping);
    CHECK(*cache_stopped < *db_stopping);
}

TEST_CASE("shutdown: a child that ignores SIGTERM gets SIGKILL after stopwaitsecs", "[integration]") {
    TempDir out;
    Vigild v(program("stubborn", "--ignore-term --record " + (out / "rec"), "stopwaitsecs = 300ms\n"));
    v.start();
    const pid_t pid = first_pid(out / "rec");
    REQUIRE(pid > 0);
    REQUIRE(v.expect("stubborn: STARTING -> RUNNING"));
    CHECK(v.terminate() == 0);
    CHECK(v.find_line("stubborn: STOPPING: still alive 300ms after SIGTERM: sending SIGKILL"));
    CHECK(v.find_line("stubborn: STOPPING -> STOPPED: stopped \\(killed by SIGKILL\\)"));
    CHECK(wait_gone(pid, 1s));
}

TEST_CASE("shutdown: a grandchild dies with its program's group", "[integration]") {
    TempDir out;
    Vigild v(program("parent", "--grandchild " + (out / "gc")));
    v.start();
    const pid_t gc = first_pid(out / "gc");
    REQUIRE(gc > 0);
    REQUIRE(::kill(gc, 0) == 0);
    CHECK(v.terminate() == 0);
    CHECK(wait_gone(gc, 5s));
}

TEST_CASE("shutdown: what a crashed program leaves in its group is killed before the restart", "[integration]") {
    TempDir out;
    Vigild v(program("leaky", "--grandchild " + (out / "gc") + " --record " + (out / "rec"),
                     "backoff = 100ms,1,100ms\n"),
             "debug");
    v.start();
    const pid_t gc = first_pid(out / "gc");
    const pid_t leader = first_pid(out / "rec");
    REQUIRE(gc > 0);
    REQUIRE(leader > 0);
    REQUIRE(::kill(leader, SIGKILL) == 0);
    CHECK(wait_gone(gc, 5s));
    CHECK(v.expect("leaky: killed processes left in its group"));
    CHECK(v.terminate() == 0);
}

TEST_CASE("shutdown: orphans adopted by vigild are reaped", "[integration]") {
    TempDir out;
    Vigild v(program("orphaner", "--orphan " + (out / "orphan")), "debug");
    v.start();
    const pid_t orphan = first_pid(out / "orphan");
    REQUIRE(orphan > 0);
    REQUIRE(v.expect("reaped orphan pid " + std::to_string(orphan)));
    CHECK(zombie_children(v.pid()).empty());
    CHECK(v.terminate() == 0);
}

TEST_CASE("shutdown: SIGINT is an orderly shutdown too, exit code 0", "[integration]") {
    Vigild v(program("a", "") + program("b", ""));
    v.start();
    REQUIRE(v.expect("a: STARTING -> RUNNING"));
    REQUIRE(v.expect("b: STARTING -> RUNNING"));
    ::kill(v.pid(), SIGINT);
    CHECK(v.wait_exit(10s) == 0);
    CHECK(v.find_line("all programs are down"));
}
