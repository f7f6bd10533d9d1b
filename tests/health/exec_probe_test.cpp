#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "supervisor/child_table.hpp"
#include "tests/health/support.hpp"

using namespace vigil::health;
using namespace vigil::health::test;

namespace {

struct ExecFixture {
    boost::asio::io_context io;
    TempDir dir;

    ProbeResult probe(const std::string& command, milliseconds timeout = 2000ms, const ExecContext& ctx = {}) {
        auto p = make_probe(io, exec_check(command, timeout), ctx);
        return run_probe(io, *p);
    }
};

// The children of this process, from /proc (every thread's list).
std::vector<pid_t> children() {
    std::vector<pid_t> out;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream in(task.path() / "children");
        pid_t pid;
        while (in >> pid) out.push_back(pid);
    }
    return out;
}

}  // namespace

TEST_CASE_METHOD(ExecFixture, "exec probe: exit 0 passes, anything else fails", "[exec]") {
    const auto ok = probe("true");
    CHECK(ok.ok);
    CHECK(ok.detail == "exit status 0");
    const auto bad = probe("exit 3");
    CHECK_FALSE(bad.ok);
    CHECK(bad.detail == "exit status 3");
    const auto missing = probe("/no/such/command");
    CHECK_FALSE(missing.ok);
    CHECK(missing.detail.rfind("exit status 127: ", 0) == 0);
    const auto killed = probe("kill -TERM $$");
    CHECK_FALSE(killed.ok);
    CHECK(killed.detail == "killed by SIGTERM");
}

TEST_CASE_METHOD(ExecFixture, "exec probe: stdout and stderr end up in the detail", "[exec]") {
    const auto r = probe("echo 'connection ok'; echo 'replica lag 3s' >&2; exit 1");
    CHECK_FALSE(r.ok);
    CHECK(r.detail == "exit status 1: connection ok replica lag 3s");
}

TEST_CASE_METHOD(ExecFixture, "exec probe: a flood of output neither blocks nor grows the detail", "[exec]") {
    const auto r = probe("head -c 2000000 /dev/zero | tr '\\0' x; echo; echo done", 5000ms);
    CHECK(r.ok);
    CHECK(r.detail.size() < 600);
    CHECK(r.detail.ends_with("x done"));
}

TEST_CASE_METHOD(ExecFixture, "exec probe: a hung command times out and its whole group is killed", "[exec]") {
    const std::string pidfile = dir.file("sleeper.pid");
    const auto started = std::chrono::steady_clock::now();
    const auto r = probe("sleep 30 & echo $! > " + pidfile + "; wait", 300ms);
    CHECK_FALSE(r.ok);
    CHECK(r.detail == "timed out after 300ms (running the command)");
    CHECK(std::chrono::steady_clock::now() - started < 2s);

    pid_t sleeper = 0;
    std::ifstream(pidfile) >> sleeper;
    REQUIRE(sleeper > 0);
    CHECK(wait_gone(sleeper, 5s));
    // The probe's shell is reaped by the probe, not left a zombie.
    CHECK(run_until(io, [] { return children().empty(); }, 5s));
}

TEST_CASE_METHOD(ExecFixture, "exec probe: what the command leaves in its group is killed when it exits",
                 "[exec]") {
    const std::string pidfile = dir.file("straggler.pid");
    const auto r = probe("sleep 30 & echo $! > " + pidfile);
    CHECK(r.ok);
    pid_t straggler = 0;
    std::ifstream(pidfile) >> straggler;
    REQUIRE(straggler > 0);
    CHECK(wait_gone(straggler, 5s));
}

TEST_CASE_METHOD(ExecFixture, "exec probe: its child is in the child table, so the orphan reaper leaves it alone", "[exec]") {
    // vigild reaps orphans after a waitid(P_ALL, WNOWAIT) peek
    // (Supervisor::reap_children); every exited child the peek finds while
    // the probe runs must be the probe's, registered in the child table, so
    // the reaper hands it over instead of taking its exit status.
    ExecContext ctx;
    ctx.children = &vigil::supervisor::ChildTable::process();
    auto p = make_probe(io, exec_check("exit 7"), ctx);
    std::optional<ProbeResult> result;
    p->run([&](ProbeResult r) { result = std::move(r); });
    int unowned = 0;
    REQUIRE(run_until(io, [&] {
        siginfo_t si{};
        if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0 &&
            !vigil::supervisor::ChildTable::process().owns(si.si_pid))
            ++unowned;
        return result.has_value();
    }, 5s));
    CHECK(unowned == 0);
    CHECK(result->detail == "exit status 7");
}

TEST_CASE_METHOD(ExecFixture, "exec probe: environment, directory and user come from the context", "[exec]") {
    ExecContext ctx;
    ctx.env = std::vector<std::string>{"PATH=/usr/bin:/bin", "CHECK_TOKEN=abc"};
    ctx.directory = dir.path();
    CHECK(probe("test \"$CHECK_TOKEN\" = abc && test \"$(pwd)\" = " + dir.path(), 2000ms, ctx).ok);
    CHECK_FALSE(probe("test -n \"$HOME\"", 2000ms, ctx).ok);  // vigild's environment is not inherited

    ExecContext nobody;
    nobody.uid = 65534;
    nobody.gid = 65534;
    const auto r = probe("echo $(id -u):$(id -g):$(id -G)", 2000ms, nobody);
    CHECK(r.detail == "exit status 0: 65534:65534:65534");
}

TEST_CASE_METHOD(ExecFixture, "exec probe: cancel() kills the command and never calls back", "[exec]") {
    const std::string pidfile = dir.file("cancelled.pid");
    auto p = make_probe(io, exec_check("echo $$ > " + pidfile + "; exec sleep 30", 10000ms));
    bool called = false;
    p->run([&](ProbeResult) { called = true; });
    auto written = [&] {
        std::error_code ec;
        return std::filesystem::file_size(pidfile, ec) > 0 && !ec;
    };
    REQUIRE(run_until(io, written, 5s));
    p->cancel();
    pid_t shell = 0;
    std::ifstream(pidfile) >> shell;
    REQUIRE(shell > 0);
    CHECK(run_until(io, [] { return children().empty(); }, 5s));
    CHECK_FALSE(called);
}
