// vigilctl backup / restore / unfence with a replicated PostgreSQL pair
// (replica_of, docs/replication.md) under the real vigild: the pair's backup
// is read from its streaming replica; a restore goes into the primary (a
// replica refuses it) and the replica is re-created from the restored
// primary and streams again; a fenced primary whose replica is down is
// brought back by `vigilctl unfence`. Writes use synchronous_commit =
// remote_apply on a synchronous pair, so a row acknowledged on the primary
// is readable on the replica with no wait; every other wait is vigilctl's
// own or a re-check at each line vigild logs, with a deadline.
#include <catch2/catch.hpp>

#include <pwd.h>
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

Prerequisites pair_prerequisites() {
    return Prerequisites().root().user("postgres").postgres({"pg_basebackup", "pg_rewind"}).executable("/usr/bin/psql");
}

// Acknowledged once the replica has applied it too (the pair is synchronous).
std::string write(int port, const std::string& statement) {
    return psql(port, "set synchronous_commit = remote_apply; " + statement + "; select count(*) from t");
}

pid_t pid_of(const Vigild& v, const std::string& name) {
    std::string out;
    if (v.ctl({"pid", name}, &out) != 0) return 0;
    return std::atoi(out.c_str());
}

// pg (primary, port_a) and pg-replica (replica_of = pg, port_b) in a temp dir.
struct Pair {
    std::unique_ptr<Vigild> v;
    int port_a = 0, port_b = 0;
    std::string data;

    Pair() {
        port_a = free_port();
        do port_b = free_port();
        while (port_b == port_a);
        auto program = [&](const std::string& name, int port, const std::string& extra) {
            return "[program:" + name + "]\nkind = postgres\nuser = postgres\ndata_dir = %(here)s/data/" + name +
                   "\naddress = 127.0.0.1:" + std::to_string(port) + "\nhealth_interval = 500ms\n" + extra + "\n";
        };
        v = std::make_unique<Vigild>(program("pg", port_a, "failover_after = 5s") +
                                     program("pg-replica", port_b, "replica_of = pg"));
        data = v->dir() / "data";
        fs::create_directories(data);
        REQUIRE(::chmod(v->dir().path().c_str(), 0755) == 0);  // postgres must reach its data_dir inside
        passwd* pw = ::getpwnam("postgres");
        REQUIRE(pw);
        REQUIRE(::chown(data.c_str(), pw->pw_uid, pw->pw_gid) == 0);
        v->start();
    }
    bool status_has(const std::string& name, const std::string& needle) const {
        std::string out;
        v->ctl({"status", name}, &out);
        return out.find(needle) != std::string::npos;
    }
    // Re-checks at every line vigild logs, up to `timeout`.
    bool wait_status(const std::string& name, const std::string& needle, Ms timeout) const {
        const auto until = Clock::now() + timeout;
        while (Clock::now() < until) {
            const auto seen = v->line_count();
            if (status_has(name, needle)) return true;
            v->wait_for_more(seen, std::chrono::duration_cast<Ms>(until - Clock::now()));
        }
        if (status_has(name, needle)) return true;
        std::string out;
        v->ctl({"status"}, &out);
        std::cerr << "waited in vain for '" << needle << "' in " << name << "'s status:\n" << out << v->log_text();
        return false;
    }
    void synchronous() const {
        REQUIRE(wait_status("pg-replica", "replica of pg, sync", 90s));
        REQUIRE(wait_status("pg", "primary, synchronous", 20s));
    }
};

}  // namespace

TEST_CASE("backup: a replicated pair is backed up from its replica, restored into its primary, the replica re-created",
          "[integration][backup][replication]") {
    VIGIL_SKIP_UNLESS(pair_prerequisites());
    Pair p;
    p.synchronous();
    REQUIRE(write(p.port_a, "create table t (id int primary key, v text); "
                            "insert into t select g, md5(g::text) from generate_series(1, 1000) g") == "1000");
    REQUIRE(psql(p.port_b, "select count(*) from t") == "1000");

    // Backing up the pair by its primary's name reads the replica.
    const std::string dir = p.v->dir() / "backup-1";
    std::string out;
    REQUIRE(p.v->ctl({"backup", "pg", dir}, &out, 120s) == 0);
    INFO(out);
    CHECK(out.find("pg: the replicated pair pg's data, read from pg-replica, a healthy streaming replica of pg") !=
          std::string::npos);
    CHECK(out.find("pg-replica: backed up to " + dir) != std::string::npos);
    const std::string manifest = read_file(dir + "/vigil-backup.json");
    CHECK(manifest.find("\"program\": \"pg\"") != std::string::npos);
    CHECK(manifest.find("\"pair\": \"pg\"") != std::string::npos);
    CHECK(manifest.find("\"source\": \"pg-replica\"") != std::string::npos);
    // By the replica's name: the same pair, the same manifest's naming.
    const std::string dir2 = p.v->dir() / "backup-2";
    REQUIRE(p.v->ctl({"backup", "pg-replica", dir2}, &out, 120s) == 0);
    CHECK(out.find("pg-replica: the replicated pair pg's data, read from pg-replica") != std::string::npos);
    CHECK(read_file(dir2 + "/vigil-backup.json").find("\"program\": \"pg\"") != std::string::npos);

    REQUIRE(write(p.port_a, "insert into t select g, 'later' from generate_series(1001, 1500) g") == "1500");
    REQUIRE(psql(p.port_b, "select count(*) from t") == "1500");

    // Into the replica: refused, nothing stopped or changed.
    const pid_t replica_pid = pid_of(*p.v, "pg-replica");
    CHECK(p.v->ctl({"restore", "pg-replica", dir}, &out) == 1);
    CHECK(out.find("pg-replica is a replica of pg (replicated pair pg): restore into the pair's primary (vigilctl "
                   "restore pg DIR)") != std::string::npos);
    CHECK(pid_of(*p.v, "pg-replica") == replica_pid);
    CHECK(asides_of(p.data + "/pg-replica").empty());

    // Into the primary: the replica is stopped first, re-created afterwards.
    const auto t0 = Clock::now();
    REQUIRE(p.v->ctl({"restore", "pg", dir, "--timeout", "120"}, &out, 300s) == 0);
    const double restore_s = std::chrono::duration<double>(Clock::now() - t0).count();
    INFO(out);
    CHECK(out.find("is a backup of the replicated pair pg (read from pg-replica)") != std::string::npos);
    CHECK(out.find("pg-replica: stopped (re-created from pg after the restore)") != std::string::npos);
    CHECK(out.find("pg: restored: RUNNING and healthy") != std::string::npos);
    CHECK(out.find("pg-replica: re-created from pg by a fresh base backup: RUNNING") != std::string::npos);
    std::cout << "backup: replicated pair, 1000 rows: restore into the primary with the replica re-created "
              << restore_s << " s\n"
              << out;
    CHECK(psql(p.port_a, "select count(*) from t") == "1000");
    CHECK(psql(p.port_a, "select count(*) from t where v = 'later'") == "0");
    CHECK(asides_of(p.data + "/pg").size() == 1);
    CHECK(asides_of(p.data + "/pg-replica").size() == 1);  // the replica's old history, kept
    // The pair is whole again: synchronous, and the replica holds the restored rows and what follows.
    p.synchronous();
    CHECK(psql(p.port_b, "select count(*) from t") == "1000");
    CHECK(write(p.port_a, "insert into t values (2000, 'after restore')") == "1001");
    CHECK(psql(p.port_b, "select count(*) from t where id = 2000") == "1");
    CHECK(p.v->terminate(70s) == 0);
}

TEST_CASE("unfence: a fenced primary whose replica is down is made the primary again and takes writes",
          "[integration][replication]") {
    VIGIL_SKIP_UNLESS(pair_prerequisites());
    Pair p;
    p.synchronous();
    REQUIRE(write(p.port_a, "create table t (id int primary key); insert into t values (1)") == "1");
    std::string out;
    CHECK(p.v->ctl({"unfence", "pg"}, &out) == 1);
    CHECK(out.find("pg: ERROR (pg is not fenced)") != std::string::npos);
    CHECK(p.v->ctl({"unfence", "pg-replica"}, &out) == 1);
    CHECK(out.find("pg-replica is not fenced") != std::string::npos);
    CHECK(p.v->ctl({"unfence"}, &out) == 2);

    // The state a failover leaves when its promotion fails (the replica
    // died too: core unit tests): pg fenced, the pair initialised. Written
    // with vigild stopped, as the state file is read at its start.
    REQUIRE(p.v->terminate(70s) == 0);
    REQUIRE(p.v->expect("vigild exiting", 1s));  // the cursor past the first run: its lines match nothing below
    const std::string state = p.v->dir() / "state/replication";
    REQUIRE(read_file(state) == "pair pg primary pg paired 1 fenced\n");
    write_file(state, "pair pg primary pg paired 1 fenced pg\n");
    p.v->start();
    REQUIRE(p.v->expect("replication: pg is the primary of pg", 20s));
    REQUIRE(p.v->ctl({"stop", "pg-replica"}, &out) == 0);
    // The kind script refuses to start a fenced member: vigild retries it, backing off.
    REQUIRE(p.v->expect("pg: pid [0-9]+ ended \\(exit status 1\\): vigil: error: pg is fenced", 30s));
    REQUIRE(p.v->expect("pg: STARTING -> BACKOFF", 5s));
    CHECK(p.status_has("pg", "fenced"));

    SocketClient events(p.v->socket_path());
    events.send("GET /v1/events HTTP/1.1\r\nHost: v\r\n\r\n");
    REQUIRE(events.read_until("\r\n\r\n"));  // subscribed before the unfence
    const auto t0 = Clock::now();
    REQUIRE(p.v->ctl({"unfence", "pg", "--timeout", "60"}, &out, 90s) == 0);
    const auto took = std::chrono::duration_cast<Ms>(Clock::now() - t0);
    INFO(out);
    CHECK(out.find("pg: unfenced, starting it as the primary") != std::string::npos);
    CHECK(out.find("pg: primary, RUNNING") != std::string::npos);
    std::cout << "unfence: fenced primary back and healthy in " << took.count() << " ms\n";
    CHECK(p.v->find_line("replication: pg unfenced by an operator: it is the primary again"));
    CHECK(events.read_until(R"("name":"pg","text":"pg unfenced by an operator: it is the primary again")"));
    CHECK(events.received().find(R"("type":"replication")") != std::string::npos);
    CHECK(read_file(state) == "pair pg primary pg paired 1 fenced\n");
    CHECK(p.status_has("pg", "primary, asynchronous"));
    CHECK(psql(p.port_a, "insert into t values (2); select count(*) from t") == "2");  // its data, and it serves writes
    CHECK(p.v->ctl({"unfence", "pg"}, &out) == 1);
    CHECK(out.find("pg is not fenced") != std::string::npos);
    // With the replica down a backup of the pair reads the primary.
    REQUIRE(p.v->ctl({"backup", "pg-replica", p.v->dir() / "backup"}, &out, 120s) == 0);
    CHECK(out.find("read from pg, the primary: no replica is RUNNING, healthy and streaming") != std::string::npos);
    CHECK(out.find("pg: backed up to") != std::string::npos);

    // The replica back: it follows pg again and the pair is synchronous.
    REQUIRE(p.v->ctl({"start", "pg-replica"}, &out) == 0);
    p.synchronous();
    CHECK(write(p.port_a, "insert into t values (3)") == "3");
    CHECK(psql(p.port_b, "select count(*) from t") == "3");
    CHECK(p.v->terminate(70s) == 0);
}
