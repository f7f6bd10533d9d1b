// Bad input from issue 6: a data directory owned by another user, a port in
// use. The reason shows in `vigilctl status` and in vigild's log, the rest
// of the stack runs on, and once the cause is gone the program comes up.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;

namespace {

// A socket listening on a free loopback port, held until destroyed: the
// "other program" that took the port.
class PortSquatter {
public:
    PortSquatter() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd_, 1) == 0);
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
    }
    ~PortSquatter() { release(); }
    void release() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

std::string status_of(const Vigild& v, const std::string& name, int* code = nullptr) {
    std::string out;
    const int rc = v.ctl({"status", name}, &out);
    if (code) *code = rc;
    return out;
}

const std::string kSteady = "\n[program:steady]\ncommand = " + child_path() + "\nstartsecs = 0\n";

}  // namespace

TEST_CASE("exit reason: a postgres data_dir owned by root is named in status and the log, others run on",
          "[integration][exit_reason]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("postgres").postgres());
    TempDir data;
    fs::permissions(data.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    const std::string data_dir = data / "pgdata";
    fs::create_directory(data_dir);  // root's, 0755
    PortSquatter port;
    port.release();  // just a free port
    Vigild v("[program:pg]\nkind = postgres\nuser = postgres\ndata_dir = " + data_dir + "\naddress = 127.0.0.1:" +
             std::to_string(port.port()) + "\nbackoff = 3s,1,3s\n" + kSteady);
    v.start();
    REQUIRE(v.expect("steady: STARTING -> RUNNING"));
    const std::string why = "vigil: error: data_dir " + data_dir +
                            " is owned by root, but the program runs as postgres: chown -R postgres " + data_dir;
    REQUIRE(v.expect("pg: pid [0-9]+ ended \\(exit status 1\\): vigil: error: data_dir .* is owned by root", 30s));
    REQUIRE(v.expect("pg: STARTING -> BACKOFF"));
    int rc = 0;
    const std::string st = status_of(v, "pg", &rc);
    CHECK(rc == 3);
    CHECK(st.find("BACKOFF") != std::string::npos);
    CHECK(st.find(why) != std::string::npos);
    CHECK(status_of(v, "steady", &rc).find("RUNNING") != std::string::npos);
    CHECK(rc == 0);
    // Nothing was created in a directory that is not postgres's.
    CHECK(fs::is_empty(data_dir));

    // Fixed as the message says: it initialises and runs.
    passwd* pw = ::getpwnam("postgres");
    REQUIRE(::chown(data_dir.c_str(), pw->pw_uid, pw->pw_gid) == 0);
    REQUIRE(v.ctl({"wait", "pg", "--timeout", "120"}) == 0);
    CHECK_FALSE(v.find_line("steady: RUNNING ->"));
    CHECK(v.terminate(70s) == 0);
}

TEST_CASE("exit reason: a postgres port in use is named in status and the log, others run on",
          "[integration][exit_reason]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("postgres").postgres());
    TempDir data;
    fs::permissions(data.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    const std::string parent = data / "pg";
    fs::create_directory(parent);
    passwd* pw = ::getpwnam("postgres");
    REQUIRE(::chown(parent.c_str(), pw->pw_uid, pw->pw_gid) == 0);
    PortSquatter taken;
    Vigild v("[program:pg]\nkind = postgres\nuser = postgres\ndata_dir = " + parent + "/data\naddress = 127.0.0.1:" +
             std::to_string(taken.port()) + "\nbackoff = 3s,1,3s\n" + kSteady);
    v.start();
    REQUIRE(v.expect("steady: STARTING -> RUNNING"));
    REQUIRE(v.expect("pg: pid [0-9]+ ended \\(exit status 1\\): could not bind IPv4 address \"127.0.0.1\": "
                     "Address already in use",
                     120s));
    REQUIRE(v.expect("pg: STARTING -> BACKOFF"));
    int rc = 0;
    const std::string st = status_of(v, "pg", &rc);
    CHECK(rc == 3);
    CHECK(st.find("BACKOFF") != std::string::npos);
    CHECK(st.find("could not bind IPv4 address \"127.0.0.1\": Address already in use") != std::string::npos);
    CHECK(status_of(v, "steady", &rc).find("RUNNING") != std::string::npos);
    CHECK(rc == 0);
    // The port comes free: the next attempt runs.
    taken.release();
    REQUIRE(v.ctl({"wait", "pg", "--timeout", "60"}) == 0);
    CHECK_FALSE(v.find_line("steady: RUNNING ->"));
    CHECK(v.terminate(70s) == 0);
}

TEST_CASE("exit reason: a redis port in use is named in status and the log, others run on",
          "[integration][exit_reason]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("redis").executable("/usr/bin/redis-server"));
    TempDir data;
    fs::permissions(data.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    const std::string parent = data / "redis";
    fs::create_directory(parent);
    passwd* pw = ::getpwnam("redis");
    REQUIRE(::chown(parent.c_str(), pw->pw_uid, pw->pw_gid) == 0);
    PortSquatter taken;
    const std::string addr = "127.0.0.1:" + std::to_string(taken.port());
    Vigild v("[program:cache]\nkind = redis\nuser = redis\ndata_dir = " + parent + "/data\naddress = " + addr +
             "\nbackoff = 3s,1,3s\n" + kSteady);
    v.start();
    REQUIRE(v.expect("steady: STARTING -> RUNNING"));
    REQUIRE(v.expect("cache: pid [0-9]+ ended \\(exit status 1\\): .*" + addr + ": bind: Address already in use", 30s));
    REQUIRE(v.expect("cache: STARTING -> BACKOFF"));
    int rc = 0;
    const std::string st = status_of(v, "cache", &rc);
    CHECK(rc == 3);
    CHECK(st.find("BACKOFF") != std::string::npos);
    CHECK(st.find("Could not create server TCP listening socket " + addr + ": bind: Address already in use") !=
          std::string::npos);
    CHECK(status_of(v, "steady", &rc).find("RUNNING") != std::string::npos);
    CHECK(rc == 0);
    // `vigilctl start` says it too.
    std::string out;
    CHECK(v.ctl({"start", "cache", "--timeout", "20"}, &out) == 1);
    CHECK(out.find("Address already in use") != std::string::npos);
    taken.release();
    REQUIRE(v.ctl({"wait", "cache", "--timeout", "60"}) == 0);
    CHECK_FALSE(v.find_line("steady: RUNNING ->"));
    CHECK(v.terminate(70s) == 0);
}

TEST_CASE("exit reason: a plain program that gives up shows its last error line in FATAL", "[integration][exit_reason]") {
    Vigild v("[program:bad]\ncommand = /bin/sh -c 'echo starting; echo \"fatal: /etc/app.conf: no such setting\" >&2; "
             "echo bye >&2; exit 3'\nstartretries = 0\n" + kSteady);
    v.start();
    REQUIRE(v.expect("bad: .*-> FATAL", 30s));
    int rc = 0;
    const std::string st = status_of(v, "bad", &rc);
    CHECK(rc == 3);
    CHECK(st.find("FATAL") != std::string::npos);
    CHECK(st.find("exited too quickly: fatal: /etc/app.conf: no such setting") != std::string::npos);
    CHECK(v.find_line("bad: pid [0-9]+ ended \\(exit status 3\\): fatal: /etc/app.conf: no such setting"));
    std::string out;
    REQUIRE(v.ctl({"status", "bad", "--json"}, &out) == 3);
    CHECK(out.find("\"exit_reason\": \"fatal: /etc/app.conf: no such setting\"") != std::string::npos);
    CHECK(status_of(v, "steady", &rc).find("RUNNING") != std::string::npos);
    CHECK(v.terminate() == 0);
}
