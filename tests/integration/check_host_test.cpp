// What only the machine can say about a config: users, commands, their
// permissions, directories. `vigild --check` and live reloads refuse such a
// file with file:line; a start only warns. And a kind's data_dir that its
// user could not create is made by vigild (root), as StateDirectory= is.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "harness.hpp"

using namespace vigil::test;

namespace {

int check(const std::string& file, std::string* out) { return run({VIGILD_PATH, "--check", "-c", file}, out); }

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("check: an unknown user, a missing command or directory are file:line errors", "[integration]") {
    TempDir d;
    const std::string f = d / "bad.ini";
    write_file(f,
               "[program:typo]\n"
               "command = /bin/sleep 1000\n"
               "user = nobdy\n"
               "[program:gone]\n"
               "command = /nonexistent/bin/app --flag\n"
               "[program:nopath]\n"
               "command = vigil-no-such-command\n"
               "[program:nodir]\n"
               "command = /bin/true\n"
               "directory = /nonexistent/dir\n"
               "[program:file]\n"
               "command = /bin/true\n"
               "directory = /etc/hostname\n"
               "[program:fine]\n"
               "command = sleep 1000\n");
    std::string out;
    CHECK(check(f, &out) == 1);
    INFO(out);
    CHECK(has(out, f + ":3: user: no such user 'nobdy'"));
    CHECK(has(out, f + ":5: command: /nonexistent/bin/app does not exist"));
    CHECK(has(out, f + ":7: command: 'vigil-no-such-command' is not in PATH ("));
    CHECK(has(out, f + ":10: directory: /nonexistent/dir does not exist"));
    CHECK(has(out, f + ":13: directory: /etc/hostname is not a directory"));
    CHECK(has(out, "has 5 errors"));  // `fine` is fine: sleep is in PATH
}

TEST_CASE("check: a command its user cannot reach or execute is refused", "[integration]") {
    if (::geteuid() != 0) skip("needs root to run programs as another user");
    if (!::getpwnam("nobody")) skip("needs a user 'nobody'");
    TempDir d;  // 0700 root: nobody cannot search it
    ::chmod(d.path().c_str(), 0700);
    std::filesystem::copy_file("/bin/true", d / "app");
    std::filesystem::create_directory(d / "open");
    ::chmod((d / "open").c_str(), 0755);
    std::filesystem::copy_file("/bin/true", d / "open/noexec");
    ::chmod((d / "open/noexec").c_str(), 0644);
    const std::string f = d / "perm.ini";
    write_file(f,
               "[program:hidden]\n"
               "command = " + (d / "app") + "\n"
               "user = nobody\n"
               "[program:noexec]\n"
               "command = " + (d / "open/noexec") + "\n"
               "user = nobody\n"
               "[program:rootok]\n"
               "command = " + (d / "app") + "\n"
               "[program:cache]\n"
               "kind = redis\n"
               "user = nobody\n"
               "address = 127.0.0.1:6390\n"
               "redis_bin = /bin/sleep\n"
               "data_dir = " + (d / "redis") + "\n");
    std::string out;
    CHECK(check(f, &out) == 1);
    INFO(out);
    CHECK(has(out, f + ":2: command: user 'nobody' cannot reach " + (d / "app") + ": no search permission on " +
                       d.path() + " (mode 0700)"));
    CHECK(has(out, f + ":5: command: user 'nobody' cannot reach"));  // the same dir is in the way
    CHECK(has(out, f + ":14: data_dir: user 'nobody' cannot reach " + (d / "redis") + ": no search permission on " +
                       d.path() + " (mode 0700)"));
    CHECK(has(out, "has 3 errors"));  // root may run it

    ::chmod(d.path().c_str(), 0755);
    CHECK(check(f, &out) == 1);
    CHECK(has(out, f + ":5: command: " + (d / "open/noexec") + " is not executable by user 'nobody'"));
    CHECK(has(out, "has 1 error"));
}

TEST_CASE("check: a live update or SIGHUP with an unknown user is refused and the running config kept",
          "[integration]") {
    Vigild v("[program:a]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("a: STARTING -> RUNNING"));
    const std::string good = read_file(v.config_path());
    write_file(v.config_path(), good + "\n[program:b]\ncommand = " + child_path() + "\nuser = nobdy\n");
    std::string out;
    CHECK(v.ctl({"update"}, &out) == 1);
    INFO(out);
    CHECK(has(out, v.config_path() + ":"));
    CHECK(has(out, "user: no such user 'nobdy'"));
    CHECK(v.ctl({"status", "b"}, &out) == 2);  // no such process
    ::kill(v.pid(), SIGHUP);
    CHECK(v.expect("reload refused: .*vigil.ini:[0-9]+: user: no such user 'nobdy'"));
    CHECK(v.ctl({"status", "b"}, &out) == 2);
    CHECK(v.terminate() == 0);
}

TEST_CASE("check: at start a host problem is a warning, and the other programs run", "[integration]") {
    Vigild v("[program:ghost]\ncommand = /nonexistent/program\nbackoff = 100ms,2,1s\n\n"
             "[program:fine]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    CHECK(v.find_line("warning: .*vigil.ini:[0-9]+: command: /nonexistent/program does not exist \\(the program will "
                      "fail to start; vigild --check refuses this file\\)"));
    REQUIRE(v.expect("fine: STARTING -> RUNNING"));
    CHECK(v.terminate() == 0);
}

TEST_CASE("check: vigild (root) creates a kind's data_dir for its user, parents too, mode 0700", "[integration]") {
    if (::geteuid() != 0) skip("needs root to create a directory for another user");
    if (::access("/usr/bin/redis-server", X_OK) != 0 || !::getpwnam("redis")) skip("needs redis-server and a redis user");
    TempDir data;  // root, 0755: redis may look but not write
    ::chmod(data.path().c_str(), 0755);
    const std::string dir = data / "state/cache";
    Vigild v("[program:cache]\nkind = redis\nuser = redis\ndata_dir = " + dir + "\naddress = 127.0.0.1:" +
             std::to_string(free_port()) + "\nstartretries = 0\n");
    v.start();
    REQUIRE(v.expect("cache: STARTING -> RUNNING", 30s));
    struct stat st {};
    REQUIRE(::stat(dir.c_str(), &st) == 0);
    CHECK(st.st_uid == ::getpwnam("redis")->pw_uid);
    CHECK((st.st_mode & 07777) == 0700);
    REQUIRE(::stat((data / "state").c_str(), &st) == 0);
    CHECK(st.st_uid == 0);
    CHECK((st.st_mode & 07777) == 0755);
    CHECK(v.terminate() == 0);
}
