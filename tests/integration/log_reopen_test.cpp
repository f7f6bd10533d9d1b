// `vigilctl reopen` and SIGUSR2 after a real logrotate: every line goes to
// the new file, none is lost across the move, and vigild keeps no rotated
// file open.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;

namespace {

// The files vigild has open, by path (what /proc/PID/fd links to).
std::vector<std::string> open_files(pid_t pid) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code lec;
        const auto target = std::filesystem::read_symlink(e.path(), lec);
        if (!lec) out.push_back(target.string());
    }
    return out;
}

bool holds(pid_t pid, const std::string& path) {
    for (const auto& f : open_files(pid))
        if (f == path || f == path + " (deleted)") return true;
    return false;
}

// The numbers of "line-N" lines in a file, in order.
std::vector<long> numbers(const std::string& path) {
    std::vector<long> out;
    for (const auto& l : lines_of(read_file(path)))
        if (l.rfind("line-", 0) == 0) out.push_back(std::stol(l.substr(5)));
    return out;
}

}  // namespace

TEST_CASE("logs: logrotate then vigilctl reopen, and SIGUSR2: new files, no line lost, no rotated file held",
          "[integration]") {
    VIGIL_SKIP_UNLESS(Prerequisites().executable("/usr/sbin/logrotate"));
    TempDir logs;
    const std::string out = logs / "talker.log", own = logs / "vigild.log";
    // A program that never stops talking: lines keep arriving during each
    // rotation, so a line lost between the move and the reopen would show.
    Vigild v("[supervisord]\nlogfile = " + own + "\nlogfile_maxbytes = 0\n\n"
             "[program:talker]\ncommand = /bin/sh -c 'i=0; while :; do i=$((i+1)); echo line-$i; sleep 0.02; done'\n"
             "startsecs = 0\nstdout_logfile = " + out + "\nstdout_logfile_maxbytes = 0\n");
    v.start();
    REQUIRE(wait_for_lines(out, 5));
    REQUIRE(wait_for_lines(own, 1));

    const std::string conf = logs / "logrotate.conf";
    write_file(conf, out + " " + own + " {\n  rotate 3\n  missingok\n  sharedscripts\n  postrotate\n    " +
                         std::string(VIGILCTL_PATH) + " -s " + v.socket_path() + " reopen\n  endscript\n}\n");
    std::string log;
    REQUIRE(run({"/usr/sbin/logrotate", "-f", "-s", logs / "state", conf}, &log) == 0);
    INFO(log);
    REQUIRE(std::filesystem::exists(out + ".1"));
    REQUIRE(std::filesystem::exists(own + ".1"));

    // The next lines land in a new file at the configured path.
    REQUIRE(wait_for_lines(out, 3));
    REQUIRE(wait_for_lines(own, 1));  // "reopened N log files"
    CHECK(v.find_line("reopened [0-9]+ log files"));
    CHECK_FALSE(holds(v.pid(), out + ".1"));
    CHECK_FALSE(holds(v.pid(), own + ".1"));
    CHECK(holds(v.pid(), out));

    // Not one line lost or doubled across the move: the new file goes on
    // from the rotated one's last line.
    const auto before = numbers(out + ".1"), after = numbers(out);
    REQUIRE(!before.empty());
    REQUIRE(!after.empty());
    CHECK(after.front() == before.back() + 1);
    const auto rotated_size = std::filesystem::file_size(out + ".1");

    // SIGUSR2 does the same (supervisord's signal), here after a plain mv.
    std::filesystem::rename(out, out + ".2");
    REQUIRE(::kill(v.pid(), SIGUSR2) == 0);
    REQUIRE(wait_for_lines(out, 3));
    const auto moved = numbers(out + ".2"), fresh = numbers(out);
    REQUIRE(!moved.empty());
    REQUIRE(!fresh.empty());
    CHECK(fresh.front() == moved.back() + 1);
    CHECK_FALSE(holds(v.pid(), out + ".2"));
    CHECK(std::filesystem::file_size(out + ".1") == rotated_size);  // nothing more went to the first rotated file
}

TEST_CASE("logs: vigilctl reopen with no vigild answers 4, and the verb is in help", "[integration]") {
    TempDir d;
    std::string out;
    CHECK(run({VIGILCTL_PATH, "-s", d / "nobody.sock", "reopen"}, &out) == 4);
    CHECK(run({VIGILCTL_PATH, "help"}, &out) == 0);
    CHECK(out.find("reopen") != std::string::npos);
}
