// vigild on a host: its own crash, and duty as PID 1.
#include <catch2/catch.hpp>

#include <signal.h>

#include <sstream>

#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;

namespace {

std::string program(const std::string& name, const std::string& args) {
    return "[program:" + name + "]\ncommand = " + child_path() + " " + args + "\nstartsecs = 0\n\n";
}

pid_t pid_on_line(const std::vector<std::string>& lines, std::size_t i) {
    std::istringstream in(lines.at(i));
    pid_t pid = -1;
    in >> pid;
    return pid;
}

// The first child of `parent` (from /proc/PID/task/PID/children).
pid_t first_child(pid_t parent) {
    std::istringstream in(read_file("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children"));
    pid_t pid = -1;
    in >> pid;
    return pid;
}

}  // namespace

TEST_CASE("host: after vigild is killed -9, the next vigild stops the leftovers and runs one copy", "[host]") {
    TempDir out;
    Vigild v(program("svc", "--grandchild " + (out / "gc") + " --record " + (out / "rec")));
    v.start();
    auto first = wait_for_lines(out / "rec", 1);
    REQUIRE(first);
    const pid_t old_pid = pid_on_line(*first, 0);
    auto gc = wait_for_lines(out / "gc", 1);
    REQUIRE(gc);
    const pid_t old_gc = pid_on_line(*gc, 0);

    REQUIRE(::kill(v.pid(), SIGKILL) == 0);
    REQUIRE(v.wait_exit() == 128 + SIGKILL);
    REQUIRE(::kill(old_pid, 0) == 0);  // the program outlived its supervisor

    v.start();  // same config, same state_dir
    REQUIRE(v.expect("svc: pid " + std::to_string(old_pid) + " was left running by a previous vigild"));
    auto second = wait_for_lines(out / "rec", 2);
    REQUIRE(second);
    const pid_t new_pid = pid_on_line(*second, 1);
    CHECK(new_pid != old_pid);
    CHECK(wait_gone(old_pid, 5s));
    CHECK(wait_gone(old_gc, 5s));
    CHECK(::kill(new_pid, 0) == 0);
    CHECK(v.terminate() == 0);
}

TEST_CASE("host: as PID 1 vigild reaps orphans and shuts down in order", "[host]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().executable("/usr/bin/unshare"));  // a PID namespace needs root here
    TempDir out;
    Vigild v(program("orphaner", "--orphan " + (out / "orphan")) + program("plain", ""), "debug");
    v.start({}, {"unshare", "--pid", "--fork", "--mount-proc"});
    REQUIRE(v.expect("plain: STARTING -> RUNNING"));
    REQUIRE(wait_for_lines(out / "orphan", 1));
    REQUIRE(v.expect("reaped orphan pid"));
    const pid_t vigild = first_child(v.pid());  // unshare's child is vigild, PID 1 inside
    REQUIRE(vigild > 0);
    CHECK(read_file("/proc/" + std::to_string(vigild) + "/status").find("NSpid:\t" + std::to_string(vigild) + "\t1") !=
          std::string::npos);
    CHECK(zombie_children(vigild).empty());
    // As PID 1 the kernel ignores signals without handlers: vigild installs them.
    REQUIRE(::kill(vigild, SIGTERM) == 0);
    CHECK(v.wait_exit(20s) == 0);
    CHECK(v.find_line("all programs are down"));
}
