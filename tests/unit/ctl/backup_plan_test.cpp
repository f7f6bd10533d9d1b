#include <catch2/catch.hpp>

#include <set>

#include "supervisor/ctl/backup_plan.hpp"

using namespace vigil::ctl::backup;

TEST_CASE("backup plan: a manifest round-trips and is checked", "[backup]") {
    Manifest m;
    m.program = "cache";
    m.kind = "redis";
    m.time = iso_utc(0);
    m.server_version = "7.0.15";
    m.method = "BGSAVE";
    m.rdb_file = "dump.rdb";
    m.aof_dir = "appendonlydir";
    m.aof_file = "appendonly.aof";
    m.bytes = 1234;
    m.keys = 1000;
    std::string error;
    auto back = parse_manifest(to_json(m), error);
    REQUIRE(back);
    CHECK(back->program == "cache");
    CHECK(back->kind == "redis");
    CHECK(back->time == "1970-01-01T00:00:00Z");
    CHECK(back->rdb_file == "dump.rdb");
    CHECK(back->bytes == 1234);
    CHECK(back->keys == 1000);
    CHECK(restore_refusal(*back, "redis", "cache", false).empty());
    CHECK(restore_refusal(*back, "postgres", "cache", true) ==
          "it is a backup of a kind = redis program (cache), not of kind = postgres");
    CHECK_FALSE(restore_refusal(*back, "process", "cache", true).empty());
    // Another program's backup only with --force.
    CHECK(restore_refusal(*back, "redis", "cache-b", false) ==
          "it is a backup of cache, not of cache-b: restoring it would replace cache-b's data with that program's; "
          "add --force to do so anyway");
    CHECK(restore_refusal(*back, "redis", "cache-b", true).empty());

    CHECK_FALSE(parse_manifest("not json", error));
    CHECK_FALSE(parse_manifest(R"({"format":"other/1","kind":"redis"})", error));
    CHECK(error.find("unknown manifest format") != std::string::npos);
    CHECK_FALSE(parse_manifest(R"({"format":"vigil-backup/1","kind":"mysql"})", error));
    // A manifest must not point outside the backup.
    CHECK_FALSE(parse_manifest(R"({"format":"vigil-backup/1","kind":"redis","rdb_file":"../../etc/shadow"})", error));
    CHECK_FALSE(parse_manifest(
        R"({"format":"vigil-backup/1","kind":"redis","rdb_file":"dump.rdb","aof_dir":"..","aof_file":"x"})", error));
    CHECK(parse_manifest(R"({"format":"vigil-backup/1","kind":"postgres"})", error));
}

TEST_CASE("backup plan: a postgres manifest keeps the role and database, named in a refusal", "[backup]") {
    Manifest m;
    m.program = "postgres-a";
    m.kind = "postgres";
    m.db_user = "auth";
    m.db_name = "auth_db";
    std::string error;
    auto back = parse_manifest(to_json(m), error);
    REQUIRE(back);
    CHECK(back->db_user == "auth");
    CHECK(back->db_name == "auth_db");
    CHECK(restore_refusal(*back, "postgres", "postgres-b", false) ==
          "it is a backup of postgres-a (role auth, database auth_db), not of postgres-b: restoring it would replace "
          "postgres-b's data with that program's; add --force to do so anyway");
    back->program.clear();
    CHECK(restore_refusal(*back, "postgres", "postgres-b", false).find("an unnamed program") != std::string::npos);
}

TEST_CASE("backup plan: PostgreSQL major versions", "[backup]") {
    CHECK(pg_major("15.20 (Debian 15.20-0+deb12u1)") == "15");
    CHECK(pg_major("postgres (PostgreSQL) 16.1") == "16");
    CHECK(pg_major("15\n") == "15");
    CHECK(pg_major("9.6.24") == "9.6");
    CHECK(pg_major("9.6\n") == "9.6");
    CHECK(pg_major("nothing").empty());
}

TEST_CASE("backup plan: the data is moved aside under a new name, never onto one", "[backup]") {
    const std::time_t t = 1767225600;  // 2026-01-01T00:00:00Z
    CHECK(stamp_utc(t) == "20260101T000000Z");
    std::set<std::string> taken;
    auto exists = [&](const std::string& p) { return taken.count(p) > 0; };
    CHECK(aside_path("/srv/pg", t, exists) == "/srv/pg.before-restore-20260101T000000Z");
    taken.insert("/srv/pg.before-restore-20260101T000000Z");
    taken.insert("/srv/pg.before-restore-20260101T000000Z-2");
    CHECK(aside_path("/srv/pg", t, exists) == "/srv/pg.before-restore-20260101T000000Z-3");
}

TEST_CASE("backup plan: the AOF manifest names the RDB as its only base", "[backup]") {
    CHECK(aof_base_name("appendonly.aof") == "appendonly.aof.1.base.rdb");
    CHECK(aof_manifest_text("appendonly.aof") == "file appendonly.aof.1.base.rdb seq 1 type b\n");
}

TEST_CASE("backup plan: INFO and keyspace", "[backup]") {
    const auto info = parse_info("# Persistence\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\n\r\n"
                                 "# Keyspace\r\ndb0:keys=10,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=1,avg_ttl=9\r\n");
    CHECK(info.at("rdb_bgsave_in_progress") == "0");
    CHECK(info.at("rdb_last_bgsave_status") == "ok");
    CHECK(keys_in(info) == 15);
    CHECK(keys_in(parse_info("# Keyspace\r\n")) == -1);
    CHECK(keys_in(parse_info("# Keyspace\r\nredis_version:7\r\n")) == 0);
}

TEST_CASE("backup plan: a replicated pair's backup names the pair and its source, restores into any member",
          "[backup]") {
    Manifest m;
    m.program = "pg";
    m.kind = "postgres";
    m.pair = "pg";
    m.source = "pg-replica";
    std::string error;
    auto back = parse_manifest(to_json(m), error);
    REQUIRE(back);
    CHECK(back->pair == "pg");
    CHECK(back->source == "pg-replica");
    CHECK(restore_refusal(*back, "postgres", "pg", false).empty());
    // After a failover the pair's primary is the other member: still the pair's data.
    CHECK(restore_refusal(*back, "postgres", "pg-replica", false, "pg").empty());
    CHECK(restore_refusal(*back, "postgres", "other", false, "other").find("the replicated pair pg") !=
          std::string::npos);
    // A lone program's backup (no pair) restores into the pair it became.
    back->pair.clear();
    CHECK(restore_refusal(*back, "postgres", "pg-replica", false, "pg").empty());
    CHECK(to_json(*back).find("\"source\"") == std::string::npos);
}

TEST_CASE("backup plan: a pair is backed up from a healthy streaming replica, else from its primary", "[backup]") {
    std::vector<PairMember> pair{{"pg", "RUNNING", "healthy", "primary", false},
                                 {"pg-replica", "RUNNING", "healthy", "replica", true}};
    std::string why;
    const PairMember* s = backup_source(pair, why);
    REQUIRE(s);
    CHECK(s->name == "pg-replica");
    CHECK(why == "pg-replica, a healthy streaming replica of pg (the primary is spared the load)");
    pair[1].health = "";  // no health check: RUNNING and streaming will do
    CHECK(backup_source(pair, why)->name == "pg-replica");
    for (auto change : {+[](PairMember& r) { r.streaming = false; }, +[](PairMember& r) { r.health = "unhealthy"; },
                        +[](PairMember& r) { r.state = "BACKOFF"; }}) {
        auto copy = pair;
        change(copy[1]);
        s = backup_source(copy, why);
        REQUIRE(s);
        CHECK(s->name == "pg");
        CHECK(why == "pg, the primary: no replica is RUNNING, healthy and streaming");
    }
    // After a failover: the roles, not the configuration, decide.
    std::vector<PairMember> after{{"pg", "BACKOFF", "", "replica", false},
                                  {"pg-replica", "RUNNING", "healthy", "primary", false}};
    CHECK(backup_source(after, why)->name == "pg-replica");
    after[1].role = "fenced";
    CHECK_FALSE(backup_source(after, why));
}
