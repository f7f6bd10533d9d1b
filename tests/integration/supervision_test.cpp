// vigild with real children: respawn, backoff, captured output, fds.
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>

#include "harness.hpp"

using namespace vigil::test;
using Clock = std::chrono::steady_clock;

namespace {

std::string program(const std::string& name, const std::string& args, const std::string& extra = "") {
    return "[program:" + name + "]\ncommand = " + child_path() + " " + args + "\n" + extra + "\n";
}

pid_t pid_in(const std::string& line) {
    std::smatch m;
    static const std::regex re("pid ([0-9]+)");
    return std::regex_search(line, m, re) ? std::stoi(m[1]) : -1;
}

}  // namespace

TEST_CASE("supervision: kill -9 respawns after the configured backoff", "[integration]") {
    Vigild v(program("worker", "", "startsecs = 0\nbackoff = 300ms,2,5s\n"));
    v.start();
    auto first = v.expect("worker: STOPPED -> STARTING");
    REQUIRE(first);
    auto up = v.expect("worker: STARTING -> RUNNING: pid [0-9]+ started");
    REQUIRE(up);
    const pid_t pid = pid_in(*up);
    REQUIRE(pid > 0);

    const auto killed_at = Clock::now();
    REQUIRE(::kill(pid, SIGKILL) == 0);
    auto backoff = v.expect("worker: RUNNING -> BACKOFF: killed by SIGKILL; restarting in");
    REQUIRE(backoff);
    auto again = v.expect("worker: STARTING -> RUNNING: pid [0-9]+ started");
    REQUIRE(again);
    const auto waited = std::chrono::duration_cast<Ms>(Clock::now() - killed_at);
    CHECK(pid_in(*again) != pid);
    CHECK(waited >= 270ms);  // 300 ms − 10 % jitter
    CHECK(waited < 3000ms);
    CHECK(v.terminate() == 0);
}

TEST_CASE("supervision: a crash loop follows the backoff sequence", "[integration]") {
    Vigild v(program("crasher", "--exit 3", "startsecs = 1s\nbackoff = 100ms,2,400ms\n"));
    v.start();
    std::vector<long> delays;
    for (int i = 0; i < 4; ++i) {
        auto line = v.expect("crasher: STARTING -> BACKOFF: exited too quickly \\(exit status 3.*restarting in ([0-9]+)ms");
        REQUIRE(line);
        std::smatch m;
        REQUIRE(std::regex_search(*line, m, std::regex("restarting in ([0-9]+)ms")));
        delays.push_back(std::stol(m[1]));
    }
    const std::vector<long> nominal{100, 200, 400, 400};
    for (std::size_t i = 0; i < nominal.size(); ++i) {
        INFO("attempt " << i << " delay " << delays[i]);
        CHECK(delays[i] >= nominal[i] * 9 / 10);
        CHECK(delays[i] <= nominal[i] * 11 / 10);
    }
    CHECK(v.terminate() == 0);
}

TEST_CASE("supervision: startretries ends in FATAL, others keep running", "[integration]") {
    Vigild v(program("flaky", "--exit 1", "startsecs = 1s\nstartretries = 2\nbackoff = 50ms,1,50ms\n") +
             program("steady", "", "startsecs = 0\n"));
    v.start();
    REQUIRE(v.expect("steady: STARTING -> RUNNING"));
    REQUIRE(v.expect("flaky: STARTING -> FATAL: .*gave up after 3 failed starts"));
    CHECK_FALSE(v.find_line("steady: RUNNING ->"));
    CHECK(v.terminate() == 0);
}

TEST_CASE("supervision: a child sees only fds 0, 1 and 2", "[integration]") {
    TempDir out;
    Vigild v(program("fds", "--fds " + (out / "fds"), "startsecs = 0\n"));
    v.start();
    auto lines = wait_for_lines(out / "fds", 3);
    REQUIRE(lines);
    CHECK(*lines == std::vector<std::string>{"0", "1", "2"});
    CHECK(v.terminate() == 0);
}

TEST_CASE("supervision: each child leads its own process group", "[integration]") {
    TempDir out;
    Vigild v(program("grp", "--record " + (out / "rec"), "startsecs = 0\n"));
    v.start();
    auto lines = wait_for_lines(out / "rec", 1);
    REQUIRE(lines);
    std::istringstream in((*lines)[0]);
    pid_t pid, pgid;
    in >> pid >> pgid;
    CHECK(pid == pgid);
    CHECK(::getpgid(pid) != ::getpgrp());
    CHECK(v.terminate() == 0);
}

TEST_CASE("supervision: stdout and stderr land in their log files", "[integration]") {
    Vigild v(program("talk", "--print hello-out --eprint hello-err", "startsecs = 0\n") +
             program("merged", "--print m-out --eprint m-err", "startsecs = 0\nredirect_stderr = true\n"));
    v.start();
    const std::string log = v.dir() / "log";
    REQUIRE(wait_for_lines(log + "/talk.out.log", 1));
    REQUIRE(wait_for_lines(log + "/talk.err.log", 1));
    CHECK(read_file(log + "/talk.out.log") == "hello-out\n");
    CHECK(read_file(log + "/talk.err.log") == "hello-err\n");
    auto merged = wait_for_lines(log + "/merged.out.log", 2);
    REQUIRE(merged);
    CHECK(std::count(merged->begin(), merged->end(), "m-err") == 1);
    CHECK_FALSE(std::filesystem::exists(log + "/merged.err.log"));
    CHECK(v.terminate() == 0);
}

TEST_CASE("supervision: logs rotate by size and keep the configured backups", "[integration]") {
    Vigild v(program("spam", "--spam 20000",
                     "startsecs = 0\nstdout_logfile_maxbytes = 1KB\nstdout_logfile_backups = 2\n"));
    v.start();
    const std::string log = v.dir() / "log/spam.out.log";
    // 20,000 bytes through a 1 KiB file: the second backup appears early on.
    REQUIRE(wait_for_lines(log + ".2", 10));
    CHECK(v.terminate() == 0);
    CHECK(std::filesystem::file_size(log) <= 1024);
    CHECK(std::filesystem::file_size(log + ".1") <= 1024);
    CHECK(std::filesystem::file_size(log + ".2") <= 1024);
    CHECK_FALSE(std::filesystem::exists(log + ".3"));
}

TEST_CASE("supervision: environment, directory and umask reach the child", "[integration]") {
    TempDir out;
    Vigild v("[program:env]\ncommand = /bin/sh -c 'echo \"$GREETING $(pwd) $(umask) $VIGIL_PROCESS_NAME\" > " +
             (out / "env.tmp") + " && mv " + (out / "env.tmp") + " " + (out / "env") +
             " && exec sleep 1000'\nenvironment = GREETING=\"hi, there\"\ndirectory = " + out.path() +
             "\numask = 027\nstartsecs = 0\n");
    v.start();
    auto lines = wait_for_lines(out / "env", 1);
    REQUIRE(lines);
    CHECK((*lines)[0] == "hi, there " + out.path() + " 0027 env");
    CHECK(v.terminate() == 0);
}

TEST_CASE("supervision: autorestart=unexpected leaves an expected exit down", "[integration]") {
    Vigild v(program("once", "--exit 0", "startsecs = 0\nautorestart = unexpected\n") +
             program("bad", "--exit 5", "startsecs = 0\nautorestart = unexpected\nbackoff = 100ms,1,100ms\n"));
    v.start();
    REQUIRE(v.expect("once: RUNNING -> EXITED: exit status 0 \\(expected\\)"));
    REQUIRE((v.find_line("bad: RUNNING -> BACKOFF: exit status 5") ||
             v.expect("bad: RUNNING -> BACKOFF: exit status 5")));
    CHECK(v.terminate() == 0);
}
