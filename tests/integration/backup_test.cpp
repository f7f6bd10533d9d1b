// vigilctl backup / restore against real PostgreSQL and Redis under a real
// vigild: a backup of the live server, more writes, a restore that brings
// back exactly the backed-up data (the newer data kept aside), a healthy
// server; and restores that must be refused leave the live data alone.
// Every wait is vigilctl's own (wait --healthy, restore's wait) or a log
// line, with a deadline.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A directory `user` can create its data directory in; the temp dir itself
// becomes traversable (not listable) by others.
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

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

TEST_CASE("backup: postgres backup of the live server, restore brings back exactly its rows", "[integration][backup]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("postgres").postgres({"pg_basebackup"}).executable("/usr/bin/psql"));
    TempDir data;
    const std::string data_dir = owned_by(data, "pg", "postgres") + "/data";
    const int port = free_port();
    Vigild v("[program:pg]\nkind = postgres\nuser = postgres\ndata_dir = " + data_dir + "\naddress = 127.0.0.1:" +
             std::to_string(port) + "\nhealth_interval = 200ms\n\n[program:steady]\ncommand = " + child_path() +
             "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.ctl({"wait", "pg", "--healthy", "--timeout", "120"}) == 0);
    REQUIRE(psql(port, "create table t (id int primary key, v text); "
                      "insert into t select g, md5(g::text) from generate_series(1, 1000) g; select count(*) from t") ==
            "1000");
    const std::string sum_before = psql(port, "select md5(string_agg(id || v, ',' order by id)) from t");

    const std::string dir = data / "backup-1";
    std::string out;
    auto t0 = Clock::now();
    REQUIRE(v.ctl({"backup", "pg", dir}, &out) == 0);
    const double backup_s = seconds_since(t0);
    INFO(out);
    CHECK(out.find("pg: backed up to " + dir) != std::string::npos);
    CHECK(out.find("verified by pg_verifybackup") != std::string::npos);
    CHECK(fs::exists(dir + "/vigil-backup.json"));
    CHECK(fs::exists(dir + "/data/PG_VERSION"));
    CHECK(fs::exists(dir + "/data/backup_manifest"));
    CHECK(read_file(dir + "/vigil-backup.json").find("\"kind\": \"postgres\"") != std::string::npos);
    CHECK((fs::status(dir).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
    // A second backup never goes into a non-empty directory.
    CHECK(v.ctl({"backup", "pg", dir}, &out) == 1);
    CHECK(out.find("is not empty") != std::string::npos);

    // Writes after the backup: the restore must not have them.
    REQUIRE(psql(port, "insert into t select g, 'later' from generate_series(1001, 1500) g; update t set v = 'changed' "
                      "where id <= 10; select count(*) from t") == "1500");

    // Refused restores change nothing and stop nothing.
    const pid_t pid = pid_of(v, "pg");
    TempDir junk;
    CHECK(v.ctl({"restore", "pg", junk.path()}, &out) == 1);
    CHECK(out.find("is not a vigil backup") != std::string::npos);
    CHECK(v.ctl({"restore", "pg", data / "no-such-dir"}, &out) == 1);
    CHECK(out.find("is not a directory") != std::string::npos);
    write_file(junk / "vigil-backup.json", R"({"format":"vigil-backup/1","kind":"redis","program":"cache","rdb_file":"dump.rdb"})");
    fs::create_directory(junk / "data");
    CHECK(v.ctl({"restore", "pg", junk.path()}, &out) == 1);
    CHECK(out.find("it is a backup of a kind = redis program (cache), not of kind = postgres") != std::string::npos);
    CHECK(v.ctl({"restore", "steady", dir}, &out) == 2);
    CHECK(out.find("steady is kind = process") != std::string::npos);
    CHECK(v.ctl({"restore", "nope", dir}, &out) == 2);
    CHECK(v.ctl({"restore", "pg"}, &out) == 2);
    CHECK(pid_of(v, "pg") == pid);
    CHECK(psql(port, "select count(*) from t") == "1500");
    CHECK(asides_of(data_dir).empty());

    t0 = Clock::now();
    REQUIRE(v.ctl({"restore", "pg", dir, "--timeout", "120"}, &out) == 0);
    const double restore_s = seconds_since(t0);
    INFO(out);
    CHECK(out.find("pg: stopped") != std::string::npos);
    CHECK(out.find("pg: restored: RUNNING and healthy") != std::string::npos);
    std::cout << "backup: postgres, 1000 rows: backup " << backup_s << " s, restore " << restore_s << " s\n" << out;
    CHECK(pid_of(v, "pg") != pid);
    CHECK(psql(port, "select count(*) from t") == "1000");
    CHECK(psql(port, "select md5(string_agg(id || v, ',' order by id)) from t") == sum_before);
    CHECK(psql(port, "select count(*) from t where v in ('later', 'changed')") == "0");
    // The data it replaced is kept, owned as before; the restored dir is 0700, the program's user's.
    const auto asides = asides_of(data_dir);
    REQUIRE(asides.size() == 1);
    CHECK(out.find("the current data is kept in " + asides[0]) != std::string::npos);
    CHECK(fs::exists(asides[0] + "/PG_VERSION"));
    struct stat st {};
    REQUIRE(::stat(data_dir.c_str(), &st) == 0);
    CHECK(st.st_uid == ::getpwnam("postgres")->pw_uid);
    CHECK((st.st_mode & 0777) == 0700);
    // The restored server takes writes and the rest of the stack never moved.
    CHECK(psql(port, "insert into t values (2000, 'after restore'); select count(*) from t") == "1001");
    CHECK_FALSE(v.find_line("steady: RUNNING ->"));
    CHECK(v.terminate(70s) == 0);
}

TEST_CASE("backup: redis BGSAVE backup, restore with AOF on brings back exactly its keys", "[integration][backup]") {
    VIGIL_SKIP_UNLESS(
        Prerequisites().root().user("redis").executable("/usr/bin/redis-server").executable("/usr/bin/redis-cli"));
    TempDir data;
    const std::string data_dir = owned_by(data, "redis", "redis") + "/data";
    const int port = free_port();
    Vigild v("[program:cache]\nkind = redis\nuser = redis\ndata_dir = " + data_dir + "\naddress = 127.0.0.1:" +
             std::to_string(port) + "\nhealth_interval = 200ms\n\n[program:steady]\ncommand = " + child_path() +
             "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.ctl({"wait", "cache", "--healthy", "--timeout", "60"}) == 0);
    std::vector<std::string> mset{"MSET"};
    for (int i = 0; i < 500; ++i) {
        mset.push_back("k" + std::to_string(i));
        mset.push_back("v" + std::to_string(i));
    }
    REQUIRE(redis(port, mset) == "OK");
    REQUIRE(redis(port, {"DBSIZE"}) == "500");

    const std::string dir = data / "backup-1";
    std::string out;
    auto t0 = Clock::now();
    REQUIRE(v.ctl({"backup", "cache", dir}, &out) == 0);
    const double backup_s = seconds_since(t0);
    INFO(out);
    CHECK(out.find("cache: backed up to " + dir) != std::string::npos);
    CHECK(out.find("500 keys") != std::string::npos);
    CHECK(fs::exists(dir + "/data/dump.rdb"));

    // After the backup: a change, a delete, a new key — all in the AOF.
    REQUIRE(redis(port, {"SET", "k0", "changed"}) == "OK");
    REQUIRE(redis(port, {"DEL", "k1"}) == "1");
    REQUIRE(redis(port, {"SET", "later", "x"}) == "OK");

    // Refused: not a backup, another kind's backup. Nothing stops.
    const pid_t pid = pid_of(v, "cache");
    TempDir junk;
    write_file(junk / "vigil-backup.json", R"({"format":"vigil-backup/1","kind":"postgres","program":"pg"})");
    fs::create_directory(junk / "data");
    CHECK(v.ctl({"restore", "cache", junk.path()}, &out) == 1);
    CHECK(out.find("not of kind = redis") != std::string::npos);
    CHECK(v.ctl({"restore", "cache", data / "none"}, &out) == 1);
    CHECK(v.ctl({"backup", "steady", data / "other"}, &out) == 2);
    CHECK_FALSE(fs::exists(data / "other"));
    CHECK(pid_of(v, "cache") == pid);
    CHECK(redis(port, {"GET", "k0"}) == "changed");

    t0 = Clock::now();
    REQUIRE(v.ctl({"restore", "cache", dir}, &out) == 0);
    const double restore_s = seconds_since(t0);
    INFO(out);
    CHECK(out.find("cache: restored: RUNNING and healthy") != std::string::npos);
    std::cout << "backup: redis, 500 keys: backup " << backup_s << " s, restore " << restore_s << " s\n" << out;
    // Exactly the backup: AOF is on, and still the RDB's keys were loaded.
    CHECK(redis(port, {"CONFIG", "GET", "appendonly"}) == "appendonly\nyes");
    CHECK(redis(port, {"DBSIZE"}) == "500");
    CHECK(redis(port, {"MGET", "k0", "k1", "k499", "later"}) == "v0\nv1\nv499");  // later: nil
    const auto asides = asides_of(data_dir);
    REQUIRE(asides.size() == 1);
    CHECK(fs::exists(asides[0] + "/appendonlydir"));

    // The restored AOF works on: a write, a restart, the write is there.
    REQUIRE(redis(port, {"SET", "after", "restore"}) == "OK");
    REQUIRE(v.ctl({"restart", "cache"}) == 0);
    REQUIRE(v.ctl({"wait", "cache", "--healthy", "--timeout", "60"}) == 0);
    CHECK(redis(port, {"DBSIZE"}) == "501");
    CHECK(redis(port, {"MGET", "k0", "after"}) == "v0\nrestore");
    CHECK_FALSE(v.find_line("steady: RUNNING ->"));
    CHECK(v.terminate(70s) == 0);
}

TEST_CASE("backup: a backup of another program is refused without --force, with it the program's own role and "
          "database must be back", "[integration][backup]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("postgres").postgres({"pg_basebackup"}).executable("/usr/bin/psql"));
    TempDir data;
    const std::string root = owned_by(data, "pg", "postgres");
    const int port_a = free_port(), port_b = free_port();
    auto pg = [&](const std::string& name, int port, const std::string& user, const std::string& db) {
        return "[program:" + name + "]\nkind = postgres\nuser = postgres\ndata_dir = " + root + "/" + name +
               "\naddress = 127.0.0.1:" + std::to_string(port) + "\ndb_user = " + user + "\ndb_name = " + db +
               "\nhealth_interval = 200ms\n\n";
    };
    Vigild v(pg("postgres-a", port_a, "auth", "auth_db") + pg("postgres-b", port_b, "payments", "payments_db"));
    v.start();
    REQUIRE(v.ctl({"wait", "postgres-a", "postgres-b", "--healthy", "--timeout", "120"}) == 0);
    auto sql_b = [&](const std::string& query) {
        std::string out;
        const int rc = run({"psql", "-X", "-A", "-t", "-q", "-h", "127.0.0.1", "-p", std::to_string(port_b), "-U",
                            "payments", "-d", "payments_db", "-c", query},
                           &out);
        return rc == 0 ? trimmed(out) : "error: " + out;
    };
    REQUIRE(sql_b("create table pay (id int); insert into pay values (1), (2); select count(*) from pay") == "2");

    const std::string dir = data / "backup-a";
    std::string out;
    REQUIRE(v.ctl({"backup", "postgres-a", dir}, &out) == 0);
    CHECK(read_file(dir + "/vigil-backup.json").find("\"db_name\": \"auth_db\"") != std::string::npos);

    // Without --force: refused before anything is stopped.
    const pid_t pid_b = pid_of(v, "postgres-b");
    CHECK(v.ctl({"restore", "postgres-b", dir}, &out) == 1);
    INFO(out);
    CHECK(out.find("it is a backup of postgres-a (role auth, database auth_db), not of postgres-b") !=
          std::string::npos);
    CHECK(out.find("add --force") != std::string::npos);
    CHECK(pid_of(v, "postgres-b") == pid_b);
    CHECK(sql_b("select count(*) from pay") == "2");
    CHECK(asides_of(root + "/postgres-b").empty());
    CHECK(v.ctl({"backup", "postgres-a", data / "x", "--force"}, &out) == 2);  // restore only

    // With --force the server comes up healthy (pg_isready's meaning), but
    // without postgres-b's role: that is no success.
    CHECK(v.ctl({"restore", "postgres-b", dir, "--force", "--timeout", "120"}, &out) == 1);
    CHECK(out.find("another program's, restoring it into postgres-b (--force)") != std::string::npos);
    CHECK(out.find("not with postgres-b's own role and database") != std::string::npos);
    CHECK(out.find("role \"payments\" does not exist") != std::string::npos);
    CHECK(out.find("to go back: vigilctl stop postgres-b") != std::string::npos);
    CHECK(asides_of(root + "/postgres-b").size() == 1);
    CHECK(v.terminate(70s) == 0);
}
