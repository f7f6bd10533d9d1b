// Bad configs and bad programs: clear errors, and the rest keeps running.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <sys/stat.h>

#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;

TEST_CASE("bad input: --check accepts a valid config", "[integration]") {
    TempDir d;
    write_file(d / "ok.ini", "[program:a]\ncommand = /bin/true\n");
    std::string out;
    CHECK(run({VIGILD_PATH, "--check", "-c", d / "ok.ini"}, &out) == 0);
    CHECK(out.find("is valid (1 processes)") != std::string::npos);
}

TEST_CASE("bad input: --check reports every error as file:line and exits 1", "[integration]") {
    TempDir d;
    write_file(d / "bad.ini",
               "[program:a]\n"
               "command = /bin/true\n"
               "startsecs = soon\n"
               "[program:b]\n"
               "bogus_key = 1\n");
    std::string out;
    CHECK(run({VIGILD_PATH, "--check", "-c", d / "bad.ini"}, &out) == 1);
    const std::string f = d / "bad.ini";
    CHECK(out.find(f + ":3: ") != std::string::npos);
    CHECK(out.find(f + ":5: ") != std::string::npos);
    // b has no command either: reported against its section header.
    CHECK(out.find(f + ":4: ") != std::string::npos);
}

TEST_CASE("bad input: --check loads the proxy's TLS certificate and key, as nginx -t does", "[integration]") {
    TempDir d;
    const std::string proxy = std::string(VIGIL_BUILD_DIR) + "/proxy/vigil-proxy";
    REQUIRE(run({proxy, "--gen-cert", d / "cert.pem", d / "key.pem"}) == 0);
    REQUIRE(run({proxy, "--gen-cert", d / "cert2.pem", d / "key2.pem"}) == 0);
    auto config = [&](const std::string& key) {
        return "[vigil]\nstate_dir = " + (d / "state") + "\n[program:proxy]\nkind = proxy\n"
               "[upstream:u]\nservers = 127.0.0.1:1\n[proxy:p]\nlisten = 127.0.0.1:1\nroute = / u\n"
               "tls_cert = " + (d / "cert.pem") + "\ntls_key = " + key + "\n";
    };
    std::string out;
    write_file(d / "ok.ini", config(d / "key.pem"));
    CHECK(run({VIGILD_PATH, "--check", "-c", d / "ok.ini"}, &out) == 0);
    for (const std::string& key : {d / "missing.pem", d / "key2.pem"}) {
        INFO(key);
        write_file(d / "bad.ini", config(key));
        out.clear();
        CHECK(run({VIGILD_PATH, "--check", "-c", d / "bad.ini"}, &out) == 1);
        CHECK(out.find("[program:proxy] (kind = proxy) does not load") != std::string::npos);
        CHECK(out.find("is valid") == std::string::npos);
    }
}

TEST_CASE("bad input: vigild refuses a broken config and starts nothing", "[integration]") {
    Vigild v("[program:a]\ncommand = /bin/true\nautorestart = sometimes\n");
    v.start();
    CHECK(v.wait_exit() == 1);
    CHECK(v.find_line("vigil.ini:[0-9]+: "));
}

TEST_CASE("bad input: an unreadable config is a one-line error", "[integration]") {
    TempDir d;
    std::string out;
    CHECK(run({VIGILD_PATH, "-c", d / "missing.ini"}, &out) == 1);
    CHECK(out.find("missing.ini") != std::string::npos);
}

TEST_CASE("bad input: a command that does not exist backs off, others keep running", "[integration]") {
    Vigild v("[program:ghost]\ncommand = /nonexistent/program\nbackoff = 100ms,2,1s\n\n"
             "[program:fine]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("fine: STARTING -> RUNNING"));
    auto line = v.find_line("ghost: STARTING -> BACKOFF: spawn failed: No such file or directory.*\\[exec: ");
    if (!line) REQUIRE(v.expect("ghost: STARTING -> BACKOFF: spawn failed: No such file or directory"));
    REQUIRE(v.expect("ghost: STARTING -> BACKOFF: spawn failed"));  // and again: it keeps trying
    CHECK_FALSE(v.find_line("fine: RUNNING ->"));
    CHECK(v.terminate() == 0);
}

TEST_CASE("bad input: a user that does not exist is a spawn error, not a crash", "[integration]") {
    Vigild v("[program:who]\ncommand = " + child_path() + "\nuser = no-such-user-vigil\nbackoff = 100ms,2,1s\n\n"
             "[program:fine]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("who: STARTING -> BACKOFF: spawn failed.*no such user 'no-such-user-vigil'"));
    CHECK(v.find_line("fine: STARTING -> RUNNING"));
    CHECK(v.terminate() == 0);
}

TEST_CASE("bad input: a second vigild on the same state_dir exits with a reason", "[integration]") {
    Vigild v("[program:a]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("a: STARTING -> RUNNING"));
    std::string out;
    CHECK(run({VIGILD_PATH, "-c", v.config_path()}, &out) == 1);
    CHECK(out.find("another vigild (pid " + std::to_string(v.pid())) != std::string::npos);
    CHECK(v.terminate() == 0);
}

TEST_CASE("bad input: programs run as their configured user", "[integration]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("nobody"));  // only root can switch users
    TempDir out;
    ::chmod(out.path().c_str(), 0777);
    Vigild v("[program:nobody]\ncommand = /bin/sh -c 'id -u > " + (out / "uid") +
             " && echo \"$HOME $USER $LOGNAME\" > " + (out / "env") +
             " && exec sleep 1000'\nuser = nobody\nstartsecs = 0\n\n"
             "[program:own]\ncommand = /bin/sh -c 'echo \"$HOME $USER\" > " + (out / "own") +
             " && exec sleep 1000'\nuser = nobody\nenvironment = HOME=\"/srv/own\"\nstartsecs = 0\n");
    v.start();
    auto lines = wait_for_lines(out / "uid", 1);
    REQUIRE(lines);
    CHECK((*lines)[0] == "65534");
    // The user's HOME, USER and LOGNAME, not vigild's (root's).
    const struct passwd* pw = ::getpwnam("nobody");
    REQUIRE(pw);
    auto env = wait_for_lines(out / "env", 1);
    REQUIRE(env);
    CHECK((*env)[0] == std::string(pw->pw_dir) + " nobody nobody");
    auto own = wait_for_lines(out / "own", 1);
    REQUIRE(own);
    CHECK((*own)[0] == "/srv/own nobody");  // the program's environment wins
    CHECK(v.terminate() == 0);
}

TEST_CASE("bad input: group sets the primary group, supplementary groups kept, unknown group refused", "[integration]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("nobody"));  // only root can switch groups
    TempDir out;
    ::chmod(out.path().c_str(), 0777);
    Vigild v("[program:grp]\ncommand = /bin/sh -c 'id -g > " + (out / "gid.tmp") + " && mv " + (out / "gid.tmp") + " " +
             (out / "gid") + " && exec sleep 1000'\nuser = nobody\ngroup = daemon\nstartsecs = 0\n\n"
             "[program:nogrp]\ncommand = " + child_path() + "\ngroup = no-such-group-vigil\nbackoff = 1s,2,60s\n");
    v.start();
    auto lines = wait_for_lines(out / "gid", 1);
    REQUIRE(lines);
    CHECK((*lines)[0] == "1");  // daemon
    CHECK(v.expect("nogrp: STARTING -> BACKOFF: spawn failed.*no such group 'no-such-group-vigil'"));
    CHECK(v.terminate() == 0);
}
