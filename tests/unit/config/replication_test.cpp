// replica_of and failover_after (docs/replication.md): errors at the line
// of the key that is wrong.
#include "helpers.hpp"

using namespace cfgtest;

namespace {

std::string pg(const std::string& name, int port, const std::string& extra = "") {
    return "[program:" + name + "]\nkind = postgres\nuser = postgres\ndata_dir = /var/lib/vigil/" + name +
           "\naddress = 127.0.0.1:" + std::to_string(port) + "\npg_bin_dir = /usr/lib/postgresql/15/bin\n" + extra;
}

}  // namespace

TEST_CASE("replication config: a replica of a postgres primary", "[replication]") {
    Config c = ok(pg("pg", 5432, "failover_after = 5s\n") + pg("pg-r", 5433, "replica_of = pg\n"));
    CHECK(get(c, "pg-r").replica_of == "pg");
    CHECK(get(c, "pg-r").replicated);
    CHECK(get(c, "pg").replicated);
    CHECK(get(c, "pg").failover_after == std::chrono::milliseconds(5000));
    CHECK(get(c, "pg-r").failover_after == std::chrono::milliseconds(10000));
}

TEST_CASE("replication config: errors name the replica_of line", "[replication]") {
    // the replica_of line of the second section is line 13
    only_error(pg("pg", 5432) + pg("pg-r", 5433, "replica_of = nope\n"), 13, "replica_of: unknown program 'nope'");
    only_error(pg("pg", 5432) + pg("pg-r", 5433, "replica_of = pg-r\n"), 13, "cannot be a replica of itself");
    only_error(pg("pg", 5432) +
                   "[program:cache]\nkind = redis\ndata_dir = /var/lib/vigil/r\naddress = 127.0.0.1:6379\n" +
                   pg("pg-r", 5433, "replica_of = cache\n"),
               17, "cache is kind = redis, but pg-r is kind = postgres");
    only_error(pg("pg", 5432) + pg("pg-r", 5433, "replica_of = pg\n") + pg("pg-rr", 5434, "replica_of = pg-r\n"),
               20, "pg-r is itself a replica (of pg)");
    only_error("[program:web]\ncommand = /bin/true\nreplica_of = pg\n" + pg("pg", 5432), 3,
               "replica_of: only applies to kind = postgres or kind = redis");
    only_error(pg("pg", 5432, "failover_after = 10ms\n"), 7, "failover_after: expected a duration of at least 1s");
}

TEST_CASE("replication config: a cycle is named", "[replication]") {
    auto errs = errors(pg("a", 5432, "replica_of = b\n") + pg("b", 5433, "replica_of = a\n"));
    REQUIRE(errs.size() == 2);
    CHECK(errs[0] == "7: replica_of: a cycle: a -> b -> a (one of them must be the primary)");
}

namespace {

std::string redis(const std::string& name, int port, const std::string& extra = "") {
    return "[program:" + name + "]\nkind = redis\ndata_dir = /var/lib/vigil/" + name + "\naddress = 127.0.0.1:" +
           std::to_string(port) + "\n" + extra;
}

}  // namespace

TEST_CASE("replication config: a replica of a redis primary", "[replication]") {
    Config c = ok(redis("cache", 6379, "failover_after = 3s\n") + redis("cache-r", 6380, "replica_of = cache\n"));
    CHECK(get(c, "cache-r").replica_of == "cache");
    CHECK(get(c, "cache-r").replicated);
    CHECK(get(c, "cache").replicated);
    CHECK(get(c, "cache").failover_after == std::chrono::milliseconds(3000));
}

TEST_CASE("replication config: redis pairs follow the postgres rules, errors at the replica_of line",
          "[replication]") {
    // each redis section is 4 lines plus its extra: the second one's replica_of is line 9
    only_error(redis("cache", 6379) + redis("cache-r", 6380, "replica_of = nope\n"), 9,
               "replica_of: unknown program 'nope'");
    only_error(redis("cache", 6379) + redis("cache-r", 6380, "replica_of = cache-r\n"), 9,
               "cannot be a replica of itself");
    only_error(pg("pg", 5432) + redis("cache-r", 6380, "replica_of = pg\n"), 11,
               "pg is kind = postgres, but cache-r is kind = redis");
    only_error(redis("cache", 6379) + redis("cache-r", 6380, "replica_of = cache\n") +
                   redis("cache-rr", 6381, "replica_of = cache-r\n"),
               14, "cache-r is itself a replica (of cache)");
    only_error("[program:cache]\nkind = redis\nnumprocs = 2\nprocess_name = c%(process_num)d\n"
               "data_dir = /srv/c%(process_num)d\naddress = 127.0.0.1:%(process_num)d000\nnumprocs_start = 6\n" +
                   redis("cache-r", 6380, "replica_of = cache\n"),
               12, "a replicated pair is one process each");
    auto errs = errors(redis("a", 6379, "replica_of = b\n") + redis("b", 6380, "replica_of = a\n"));
    REQUIRE(errs.size() == 2);
    CHECK(errs[0] == "5: replica_of: a cycle: a -> b -> a (one of them must be the primary)");
    only_error(redis("cache", 6379, "failover_after = 500ms\n"), 5,
               "failover_after: expected a duration of at least 1s");
}
