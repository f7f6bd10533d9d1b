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

namespace {
// vigild as on a host without cgroup controllers (a container, an LXC guest,
// a chroot, WSL): in a private mount namespace whose /sys/fs/cgroup is an
// empty tmpfs. Only vigild and its children see it; the test does not.
const std::vector<std::string> kWithoutCgroups = {
    "unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
    "mount -t tmpfs vigil-no-cgroups /sys/fs/cgroup && exec \"$@\"", "sh"};

void need_mount_namespace() {
    if (::geteuid() != 0) skip("hiding /sys/fs/cgroup needs root (a mount namespace and a tmpfs mount)");
    std::vector<std::string> probe = kWithoutCgroups;
    probe.push_back("/bin/true");
    if (run(probe) != 0) skip("cannot make a mount namespace with an empty /sys/fs/cgroup (unshare --mount failed)");
}

const std::string kCapped = "[program:capped]\ncommand = " + child_path() +
                            "\nmemory_limit = 64M\npids_limit = 50\nstartsecs = 0\nbackoff = 200ms,2,1s\n";
}  // namespace

TEST_CASE("limits: without cgroup controllers a limited program runs, warned, with limits not applied shown",
          "[limits]") {
    need_mount_namespace();
    Vigild v(kCapped);
    std::string out;
    std::vector<std::string> check = kWithoutCgroups;
    for (const char* a : {VIGILD_PATH, "--check", "-c"}) check.push_back(a);
    check.push_back(v.config_path());
    CHECK(run(check, &out) == 0);
    INFO(out);
    CHECK(out.find("warning: [program:capped] limits not applied on this host: memory_limit (needs the memory "
                   "cgroup controller, which this host lacks), pids_limit (needs the pids") != std::string::npos);
    CHECK(out.find("it runs without them (limits = best-effort)") != std::string::npos);

    v.start({}, kWithoutCgroups);
    REQUIRE(v.expect("warning: capped: limits not applied: memory_limit \\(needs the memory cgroup controller"));
    REQUIRE(v.expect("capped: STARTING -> RUNNING"));
    CHECK_FALSE(v.find_line("capped: limits not applied", *v.find_line("warning: capped: limits not applied") + 1));

    CHECK(v.ctl({"status", "capped"}, &out) == 0);
    CHECK(out.find("RUNNING") != std::string::npos);
    CHECK(out.find("limits not applied: memory_limit (needs the memory cgroup controller") != std::string::npos);
    CHECK(v.ctl({"status", "--json", "capped"}, &out) == 0);
    CHECK(out.find("\"limits_not_applied\": [\n      \"memory_limit (needs the memory cgroup controller, which this "
                   "host lacks)\",\n      \"pids_limit (") != std::string::npos);
    const std::string m = raw_exchange(v.socket_path(), "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(m.find("vigil_program_limit_applied{name=\"capped\",limit=\"memory_limit\"} 0") != std::string::npos);
    CHECK(m.find("vigil_program_limit_applied{name=\"capped\",limit=\"pids_limit\"} 0") != std::string::npos);
    CHECK(v.terminate() == 0);
}

TEST_CASE("limits: without cgroup controllers, limits = required refuses the program as before", "[limits]") {
    need_mount_namespace();
    Vigild v(kCapped, "info", "limits = required\n");
    std::string out;
    std::vector<std::string> check = kWithoutCgroups;
    for (const char* a : {VIGILD_PATH, "--check", "-c"}) check.push_back(a);
    check.push_back(v.config_path());
    CHECK(run(check, &out) == 0);
    CHECK(out.find("it will be refused (limits = required)") != std::string::npos);

    v.start({}, kWithoutCgroups);
    REQUIRE(v.expect("capped: STARTING -> BACKOFF: spawn failed.*cannot apply resource limits: memory_limit needs "
                     "the memory cgroup controller, which this host lacks"));
    REQUIRE(v.expect("capped: STARTING -> BACKOFF"));  // and again: still refused, never run unlimited
    CHECK_FALSE(v.find_line("capped: STARTING -> RUNNING"));
    CHECK(v.ctl({"status", "capped"}, &out) == 3);
    CHECK(out.find("BACKOFF") != std::string::npos);
    const std::string m = raw_exchange(v.socket_path(), "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(m.find("vigil_program_limit_applied{name=\"capped\",limit=\"memory_limit\"} 0") != std::string::npos);
    CHECK(v.terminate() == 0);
}

TEST_CASE("limits: with the controllers, limits apply and none is listed as not applied", "[limits]") {
    VIGIL_SKIP_UNLESS(Prerequisites().cgroups());
    Vigild v(kCapped);
    v.start();
    REQUIRE(v.expect("capped: STARTING -> RUNNING"));
    CHECK_FALSE(v.find_line("limits not applied"));
    const std::string m = raw_exchange(v.socket_path(), "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(m.find("vigil_program_limit_applied{name=\"capped\",limit=\"memory_limit\"} 1") != std::string::npos);
    CHECK(m.find("vigil_program_limit_applied{name=\"capped\",limit=\"pids_limit\"} 1") != std::string::npos);
    CHECK(v.terminate() == 0);
}
