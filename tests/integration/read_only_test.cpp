// Read-only access: real peers of another user on the control socket
// (SO_PEERCRED decides), vigilctl and supervisorctl as they would run for
// an operator in read_only_group, and a read-only basic-auth user on
// [inet_http_server].
#include <catch2/catch.hpp>

#include <grp.h>
#include <sys/stat.h>

#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;

namespace {

const char* kSupervisorctl = "/usr/bin/supervisorctl";

// argv run as user nobody with `group` as its only group.
int as_nobody(const std::string& group, std::vector<std::string> argv, std::string* out) {
    const struct group* g = ::getgrnam(group.c_str());
    REQUIRE(g);
    std::vector<std::string> cmd{"setpriv", "--reuid=65534", "--regid=" + std::to_string(g->gr_gid), "--clear-groups"};
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    return run(cmd, out);
}

std::string talker() {
    return "[program:talker]\ncommand = /bin/sh -c 'echo hello-out; exec sleep 1000'\nstartsecs = 0\n";
}

// The talker's line is in its log: what a reader with log_group may see.
void wait_for_output(const Vigild& v) {
    REQUIRE(wait_for_lines(v.dir() / "log/talker.out.log", 1));
    std::string out;
    REQUIRE(v.ctl({"tail", "talker"}, &out) == 0);
    REQUIRE_THAT(out, Catch::Contains("hello-out"));
}

void need() {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("nobody").executable("/usr/bin/setpriv").executable(kSupervisorctl));
    if (!::getgrnam("daemon") || !::getgrnam("nogroup")) skip("needs groups 'daemon' and 'nogroup'");
}

}  // namespace

TEST_CASE("read-only: a read_only_group member sees status but cannot act or read output, others are refused",
          "[integration]") {
    need();
    // crasher's last line of output explains its exit: status shows it to
    // those who may read output, not to a reader without log_group.
    Vigild v(talker() + "\n[program:crasher]\ncommand = /bin/sh -c 'echo fatal: secret-line-42 >&2; exit 3'\n"
                        "startsecs = 0\nautorestart = false\n",
             "info", "read_only_group = daemon\n");
    v.start();
    REQUIRE(v.expect("talker: STARTING -> RUNNING"));
    REQUIRE(v.expect("crasher: RUNNING -> EXITED"));
    wait_for_output(v);
    REQUIRE(::chmod(v.dir().path().c_str(), 0711) == 0);  // nobody may reach the socket in it

    struct stat st {};
    REQUIRE(::stat(v.socket_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
    CHECK(st.st_gid == ::getgrnam("daemon")->gr_gid);

    const std::string ctl = VIGILCTL_PATH, sock = v.socket_path();
    std::string out;
    CHECK(as_nobody("daemon", {ctl, "-s", sock, "status", "talker"}, &out) == 0);
    CHECK_THAT(out, Catch::Contains("talker") && Catch::Contains("RUNNING"));
    as_nobody("daemon", {ctl, "-s", sock, "health"}, &out);
    CHECK_THAT(out, !Catch::Contains("permission denied") && !Catch::Contains("cannot reach"));
    CHECK(as_nobody("daemon", {ctl, "-s", sock, "stop", "talker"}, &out) == 1);
    CHECK_THAT(out, Catch::Contains("read-only"));
    CHECK(as_nobody("daemon", {ctl, "-s", sock, "shutdown"}, &out) != 0);
    CHECK(as_nobody("daemon", {ctl, "-s", sock, "tail", "talker"}, &out) != 0);
    CHECK_THAT(out, !Catch::Contains("hello-out"));
    CHECK(as_nobody("daemon", {"curl", "-s", "--unix-socket", sock, "http://vigil/v1/access"}, &out) == 0);
    CHECK(out == R"({"access":"read","logs":false})" "\n");

    std::string full;
    REQUIRE(v.ctl({"status", "crasher"}, &full) == 3);
    REQUIRE_THAT(full, Catch::Contains("secret-line-42"));
    as_nobody("daemon", {ctl, "-s", sock, "status", "crasher"}, &out);
    CHECK_THAT(out, Catch::Contains("EXITED") && !Catch::Contains("secret-line-42"));
    as_nobody("daemon", {"curl", "-s", "--unix-socket", sock, "http://vigil/v1/programs/crasher"}, &out);
    CHECK_THAT(out, Catch::Contains("\"exit_reason\":\"\"") && !Catch::Contains("secret-line-42"));

    // supervisorctl, as the same reader: status answers, stop is a fault.
    CHECK(as_nobody("daemon", {kSupervisorctl, "-s", "unix://" + sock, "status", "talker"}, &out) == 0);
    CHECK_THAT(out, Catch::Contains("talker") && Catch::Contains("RUNNING"));
    as_nobody("daemon", {kSupervisorctl, "-s", "unix://" + sock, "stop", "talker"}, &out);
    CHECK_THAT(out, Catch::Contains("read-only"));

    // In neither group: the socket file (0660, group daemon) refuses the
    // connection; SO_PEERCRED would refuse it next.
    CHECK(as_nobody("nogroup", {ctl, "-s", sock, "status"}, &out) == 4);
    CHECK_THAT(out, Catch::Contains("Permission denied"));

    // Nothing the reader tried changed anything.
    CHECK(v.ctl({"status", "talker"}, &out) == 0);
    CHECK_THAT(out, Catch::Contains("RUNNING"));
}

TEST_CASE("read-only: acting and reading groups together: the socket is 0666, log_group sees output",
          "[integration]") {
    need();
    Vigild v(talker(), "info", "socket_group = daemon\nread_only_group = nogroup\nlog_group = nogroup\n");
    v.start();
    REQUIRE(v.expect("talker: STARTING -> RUNNING"));
    wait_for_output(v);
    REQUIRE(::chmod(v.dir().path().c_str(), 0711) == 0);
    struct stat st {};
    REQUIRE(::stat(v.socket_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0666);

    const std::string ctl = VIGILCTL_PATH, sock = v.socket_path();
    std::string out;
    CHECK(as_nobody("nogroup", {ctl, "-s", sock, "tail", "talker"}, &out) == 0);
    CHECK_THAT(out, Catch::Contains("hello-out"));
    CHECK(as_nobody("nogroup", {ctl, "-s", sock, "stop", "talker"}, &out) == 1);
    // Open file, closed door: SO_PEERCRED refuses a peer in neither group.
    if (::getgrnam("users")) {
        CHECK(as_nobody("users", {ctl, "-s", sock, "status"}, &out) != 0);
        CHECK_THAT(out, Catch::Contains("permission denied"));
    }
    CHECK(as_nobody("daemon", {ctl, "-s", sock, "stop", "talker"}, &out) == 0);
    CHECK(v.ctl({"status", "talker"}, &out) == 3);
    CHECK_THAT(out, Catch::Contains("STOPPED"));
}

TEST_CASE("read-only: a read-only user on [inet_http_server] reads, cannot act or read output", "[integration]") {
    VIGIL_SKIP_UNLESS(Prerequisites().executable("/usr/bin/curl"));
    // The read-only password in supervisord's {SHA} form: hex SHA-1 of "look".
    std::string sha;
    REQUIRE(run({"sh", "-c", "printf look | sha1sum | cut -d' ' -f1"}, &sha) == 0);
    sha.erase(sha.find_last_not_of('\n') + 1);
    const int port = free_port();
    Vigild v(talker() + "\n[inet_http_server]\nport = 127.0.0.1:" + std::to_string(port) +
             "\nusername = admin\npassword = s3cret\nread_only_username = viewer\nread_only_password = {SHA}" + sha +
             "\n");
    v.start();
    REQUIRE(v.expect("talker: STARTING -> RUNNING"));

    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    auto status = [&](const std::string& user, const std::string& method, const std::string& path) {
        std::string out;
        run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", user, "-X", method, base + path}, &out);
        return out;
    };
    CHECK(status("viewer:look", "GET", "/v1/programs") == "200");
    CHECK(status("viewer:look", "GET", "/v1/programs/talker/health") == "404");  // past the check: no healthcheck
    CHECK(status("viewer:look", "POST", "/v1/programs/talker/stop") == "403");
    CHECK(status("viewer:look", "GET", "/v1/programs/talker/log") == "403");
    // Other spellings of the same routes are the same routes.
    CHECK(status("viewer:look", "GET", "/v1/programs/talker/%6Cog") == "403");
    CHECK(status("viewer:look", "GET", "/v1//programs/talker/log/") == "403");
    CHECK(status("viewer:look", "GET", "/logtail/talker") == "403");
    CHECK(status("viewer:look", "POST", "/v1/programs/talker/%73top") == "403");
    CHECK(status("viewer:wrong", "GET", "/v1/programs") == "401");
    std::string out;
    REQUIRE(run({"curl", "-s", "-u", "viewer:look", base + "/v1/access"}, &out) == 0);
    CHECK(out == R"({"access":"read","logs":false})" "\n");
    CHECK(status("admin:s3cret", "POST", "/v1/programs/talker/stop") == "200");
    CHECK(v.ctl({"status", "talker"}, &out) == 3);
}
