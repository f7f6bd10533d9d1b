// kind = postgres and kind = redis under a real vigild: the data directory
// is initialised by the program's own command, committed data survives
// kill -9 (WAL replay, AOF), a stop is clean, and so is vigild's shutdown.
// Readiness is the server's own "ready" line in its log, watched with
// inotify; vigild's health status is not relied on.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A directory `user` can create its data directory in.
std::string owned_by(const TempDir& d, const std::string& name, const std::string& user) {
    fs::permissions(d.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    std::string dir = d / name;
    fs::create_directory(dir);
    passwd* pw = ::getpwnam(user.c_str());
    REQUIRE(pw != nullptr);
    REQUIRE(::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) == 0);
    return dir;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// psql as the superuser over TCP (trust on loopback); "" when psql fails.
// Callers first see the server's READY=1 (vigild's RUNNING), after which it
// accepts connections: one attempt, a failure is a real one.
std::string sql(int port, const std::string& query) {
    std::string out;
    if (run({"psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", std::to_string(port),
             "-U", "postgres", "-d", "postgres", "-c", query},
            &out) == 0)
        return trimmed(out);
    UNSCOPED_INFO("psql: " << out);
    return "";
}

std::string redis(int port, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"redis-cli", "--raw", "-h", "127.0.0.1", "-p", std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    if (run(argv, &out) != 0) return "error: " + out;
    return trimmed(out);
}

pid_t pid_of(const Vigild& v, const std::string& name) {
    std::string out;
    REQUIRE(v.ctl({"pid", name}, &out) == 0);
    return std::stoi(out);
}

}  // namespace

TEST_CASE("kinds: postgres initialises its data_dir, replays WAL after kill -9, stops cleanly",
          "[integration][kinds]") {
    const std::string bin = pg_bin_dir();
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("postgres").postgres().executable("/usr/bin/psql"));
    TempDir data;
    const std::string data_dir = owned_by(data, "pg", "postgres") + "/data";
    const int port = free_port();
    const std::string ini = "[program:pg]\nkind = postgres\nuser = postgres\ndata_dir = " + data_dir +
                            "\naddress = 127.0.0.1:" + std::to_string(port) + "\nbackoff = 200ms,2,2s\n";
    {
        Vigild v(ini);
        v.start();
        REQUIRE(v.expect("pg: STARTING -> RUNNING: READY=1", 30s));
        const std::string err_log = v.dir() / "log/pg.err.log";
        REQUIRE(wait_for_text(err_log, "database system is ready to accept connections", 1, 90s));
        CHECK(fs::exists(data_dir + "/PG_VERSION"));
        CHECK(read_file(err_log).find("initialising it with " + bin + "/initdb") != std::string::npos);
        CHECK(sql(port, "select 1") == "1");
        CHECK(sql(port, "show fsync") == "on");
        CHECK(sql(port, "show wal_level") == "replica");
        REQUIRE(sql(port, "create table t (v text); insert into t values ('committed'); select count(*) from t") ==
                "1");

        // A crash: the postmaster dies without a shutdown checkpoint.
        const pid_t pid = pid_of(v, "pg");
        REQUIRE(::kill(pid, SIGKILL) == 0);
        REQUIRE(v.expect("pg: RUNNING -> BACKOFF: killed by SIGKILL", 30s));
        REQUIRE(v.expect("pg: STARTING -> RUNNING", 30s));
        REQUIRE(wait_for_text(err_log, "database system is ready to accept connections", 2, 90s));
        CHECK(sql(port, "select v from t") == "committed");
        const std::string log = read_file(err_log);
        CHECK(log.find("was interrupted") != std::string::npos);  // it knew it crashed, and recovered
        CHECK(count_in(log, "initialising it with") == 1);      // and did not initialise again

        // vigilctl stop: SIGINT, postgres' fast shutdown, exit 0.
        REQUIRE(sql(port, "insert into t values ('before stop')") == "");
        REQUIRE(v.ctl({"stop", "pg"}) == 0);
        CHECK(v.expect("pg: RUNNING -> STOPPING: stop requested: sending SIGINT"));
        CHECK(v.expect("pg: STOPPING -> STOPPED: stopped \\(exit status 0\\)", 60s));
        CHECK(read_file(err_log).find("database system is shut down") != std::string::npos);
        REQUIRE(v.ctl({"start", "pg"}) == 0);
        REQUIRE(wait_for_text(err_log, "database system is ready to accept connections", 3, 90s));
        CHECK(sql(port, "select count(*) from t") == "2");
        REQUIRE(sql(port, "insert into t values ('before shutdown')") == "");
        const pid_t last = pid_of(v, "pg");
        CHECK(v.terminate(70s) == 0);
        CHECK(wait_gone(last, 5s));
        CHECK(count_in(read_file(err_log), "database system is shut down") == 2);
    }
    // A new vigild on the same data_dir: clean shutdown lost nothing.
    Vigild again(ini);
    again.start();
    REQUIRE(wait_for_text(again.dir() / "log/pg.err.log", "database system is ready to accept connections", 1, 90s));
    CHECK(sql(port, "select count(*) from t") == "3");
    CHECK(again.terminate(70s) == 0);
}

TEST_CASE("kinds: redis keeps its keys across a stop (SIGTERM saves) and a kill -9 (AOF)", "[integration][kinds]") {
    VIGIL_SKIP_UNLESS(
        Prerequisites().root().user("redis").executable("/usr/bin/redis-server").executable("/usr/bin/redis-cli"));
    TempDir data;
    const std::string data_dir = owned_by(data, "redis", "redis") + "/data";
    const int port = free_port();
    const std::string ini = "[program:cache]\nkind = redis\nuser = redis\ndata_dir = " + data_dir +
                            "\naddress = 127.0.0.1:" + std::to_string(port) + "\nbackoff = 200ms,2,2s\n";
    const std::string ready = "Ready to accept connections";
    {
        Vigild v(ini);
        v.start();
        REQUIRE(v.expect("cache: STARTING -> RUNNING: READY=1", 30s));
        const std::string out_log = v.dir() / "log/cache.out.log";
        REQUIRE(wait_for_text(out_log, ready, 1));
        CHECK(redis(port, {"CONFIG", "GET", "appendfsync"}) == "appendfsync\neverysec");
        CHECK(redis(port, {"CONFIG", "GET", "save"}) == "save\n900 1 300 10 60 10000");
        CHECK(redis(port, {"CONFIG", "GET", "dir"}) == "dir\n" + data_dir);
        REQUIRE(redis(port, {"SET", "k1", "before-stop"}) == "OK");

        // vigilctl stop: SIGTERM, redis saves and exits 0.
        REQUIRE(v.ctl({"stop", "cache"}) == 0);
        CHECK(v.expect("cache: RUNNING -> STOPPING: stop requested: sending SIGTERM"));
        CHECK(v.expect("cache: STOPPING -> STOPPED: stopped \\(exit status 0\\)", 60s));
        CHECK(read_file(out_log).find("DB saved on disk") != std::string::npos);
        REQUIRE(v.ctl({"start", "cache"}) == 0);
        REQUIRE(wait_for_text(out_log, ready, 2));
        CHECK(redis(port, {"GET", "k1"}) == "before-stop");

        // kill -9 once the write is in the AOF: nothing acknowledged is lost.
        REQUIRE(redis(port, {"SET", "k2", "before-kill"}) == "OK");
        REQUIRE(wait_for_text(data_dir + "/appendonlydir", "before-kill", 1, 10s));
        REQUIRE(::kill(pid_of(v, "cache"), SIGKILL) == 0);
        REQUIRE(v.expect("cache: RUNNING -> BACKOFF: killed by SIGKILL", 30s));
        REQUIRE(v.expect("cache: STARTING -> RUNNING", 30s));
        REQUIRE(wait_for_text(out_log, ready, 3));
        CHECK(read_file(out_log).find("DB loaded from append only file") != std::string::npos);
        CHECK(redis(port, {"GET", "k1"}) == "before-stop");
        CHECK(redis(port, {"GET", "k2"}) == "before-kill");
        REQUIRE(redis(port, {"SET", "k3", "before-shutdown"}) == "OK");
        const pid_t last = pid_of(v, "cache");
        CHECK(v.terminate(70s) == 0);
        CHECK(wait_gone(last, 5s));
    }
    // A new vigild on the same data_dir: clean shutdown lost nothing.
    Vigild again(ini);
    again.start();
    REQUIRE(wait_for_text(again.dir() / "log/cache.out.log", ready, 1));
    CHECK(redis(port, {"MGET", "k1", "k2", "k3"}) == "before-stop\nbefore-kill\nbefore-shutdown");
    CHECK(again.terminate(70s) == 0);
}

TEST_CASE("kinds: vigild refuses postgres as root, with the line", "[integration][kinds]") {
    Vigild v("[program:pg]\nkind = postgres\nuser = root\ndata_dir = /srv/pg\naddress = 127.0.0.1:5432\n"
             "pg_bin_dir = /usr/lib/postgresql/15/bin\n");
    v.start();
    CHECK(v.wait_exit() == 1);
    CHECK(v.find_line("vigil.ini:[0-9]+: user: postgres refuses to run as root: set user = postgres"));
}

TEST_CASE("kinds: a data_dir its user cannot create fails in the program's log, others run on",
          "[integration][kinds]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("redis").executable("/usr/bin/redis-server"));
    TempDir data;  // 0700 root: redis cannot create anything in it
    Vigild v("[program:cache]\nkind = redis\nuser = redis\ndata_dir = " + (data / "data") +
             "\naddress = 127.0.0.1:" + std::to_string(free_port()) + "\nstartretries = 0\n\n[program:steady]\ncommand = " +
             child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("steady: STARTING -> RUNNING"));
    REQUIRE(v.expect("cache: STARTING -> FATAL", 30s));
    CHECK(wait_for_text(v.dir() / "log/cache.err.log", "Permission denied", 1, 10s));
    CHECK_FALSE(v.find_line("steady: RUNNING ->"));
    CHECK(v.terminate() == 0);
}
