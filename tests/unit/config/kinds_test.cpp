// kind = postgres and kind = redis: the pure translation (config/kinds.hpp)
// and its keys in the loader.
#include <csignal>

#include "config/command_line.hpp"
#include "config/kinds.hpp"
#include "helpers.hpp"

using namespace cfgtest;
using std::chrono::milliseconds;

namespace {

// pg_bin_dir is set in loader tests so they do not depend on the machine.
const std::string kPg = R"([program:pg]
kind = postgres
user = postgres
data_dir = /var/lib/vigil/pg
address = 127.0.0.1:5432
pg_bin_dir = /usr/lib/postgresql/15/bin
)";

const std::string kRedis = R"([program:cache]
kind = redis
data_dir = /var/lib/vigil/redis
address = 127.0.0.1:6379
)";

KindContext fake_context(std::vector<std::string> dirs = {"/usr/lib/postgresql/15/bin"}) {
    KindContext ctx;
    ctx.uid_of = [](const std::string& u) -> std::optional<unsigned> {
        if (u == "root" || u == "toor") return 0;
        if (u == "postgres") return 101;
        return std::nullopt;
    };
    ctx.pg_bin_dirs = [dirs] { return dirs; };
    return ctx;
}

Program pg_program() {
    Program p;
    p.name = "pg";
    p.kind = "postgres";
    p.user = "postgres";
    p.data_dir = "/srv/pg";
    p.address = "127.0.0.1:5433";
    return p;
}

const ExplicitKeys kPgKeys{"kind", "user", "data_dir", "address"};

std::vector<std::string> argv_of(const std::string& command) {
    auto split = split_command(command);
    INFO(split.error);
    REQUIRE(split.error.empty());
    return split.argv;
}

}  // namespace

TEST_CASE("kinds: postgres defaults") {
    Config c = ok(kPg);
    const Program& p = get(c, "pg");
    CHECK(p.kind == "postgres");
    CHECK(p.data_dir == "/var/lib/vigil/pg");
    CHECK(p.pg_bin_dir == "/usr/lib/postgresql/15/bin");
    CHECK(p.stopsignal == SIGINT);
    CHECK(p.stopwaitsecs == milliseconds(60000));
    CHECK_FALSE(p.stopasgroup);  // SIGINT to the postmaster only (systemd's KillMode=mixed)
    CHECK(p.killasgroup);
    CHECK(p.directory == "/");
    using Env = std::vector<std::pair<std::string, std::string>>;
    CHECK(p.environment == Env{{"PGDATA", "/var/lib/vigil/pg"}});
    CHECK(p.health.kind == HealthKind::postgres);
    CHECK(p.health.target == "postgres://postgres@127.0.0.1:5432/postgres");
    CHECK(p.health.host == "127.0.0.1");
    CHECK(p.health.port == 5432);
    CHECK(p.health.user == "postgres");
    CHECK(p.health.database == "postgres");
    CHECK(p.health.interval == milliseconds(2000));
    CHECK(p.health.timeout == milliseconds(2000));
    CHECK(p.health.retries == 3);
    CHECK(p.health.start_period == milliseconds(30000));

    auto argv = argv_of(p.command);
    REQUIRE(argv.size() == 10);
    CHECK(argv[0] == "/bin/sh");
    CHECK(argv[1] == "-c");
    CHECK(argv[2] == kPostgresScript);
    CHECK(argv[3] == "vigil-postgres");
    CHECK(argv[4] == "/usr/lib/postgresql/15/bin");
    CHECK(argv[5] == "/var/lib/vigil/pg");
    CHECK(argv[6] == "127.0.0.1");
    CHECK(argv[7] == "5432");
    CHECK(argv[8] == "postgres");
    CHECK(argv[9] == "postgres");
}

TEST_CASE("kinds: the postgres wrapper initialises once, with WAL and fsync on") {
    std::string s(kPostgresScript);
    CHECK(s.find("[ ! -s \"$2/PG_VERSION\" ]") != std::string::npos);
    CHECK(s.find("install -d -m 0700 \"$2\"") != std::string::npos);
    CHECK(s.find("\"$1/initdb\" -D \"$2\" --username=\"$5\" --auth=trust") != std::string::npos);
    CHECK(s.find("CREATE DATABASE") != std::string::npos);
    CHECK(s.find("exec \"$1/postgres\" -D \"$2\"") != std::string::npos);
    // The socket beside data_dir (pg_rewind cannot copy one inside it), in data_dir when that cannot be made.
    CHECK(s.find("sock=\"${2%/}.sock\"\ninstall -d -m 0700 \"$sock\" 2>/dev/null || sock=\"$2\"\n") !=
          std::string::npos);
    for (auto opt : {"listen_addresses=\"$3\"", "-p \"$4\"", "unix_socket_directories=\"$sock\"", "fsync=on",
                     "synchronous_commit=on", "wal_level=replica", "full_page_writes=on"})
        CHECK(s.find(opt) != std::string::npos);
}

TEST_CASE("kinds: postgres db_user and db_name") {
    Config c = ok(kPg + "db_user = auth_user\ndb_name = auth_db\n");
    const Program& p = get(c, "pg");
    CHECK(p.db_user == "auth_user");
    CHECK(p.db_name == "auth_db");
    CHECK(p.health.target == "postgres://auth_user@127.0.0.1:5432/auth_db");
    auto argv = argv_of(p.command);
    REQUIRE(argv.size() == 10);
    CHECK(argv[8] == "auth_user");
    CHECK(argv[9] == "auth_db");
}

TEST_CASE("kinds: redis defaults") {
    Config c = ok(kRedis);
    const Program& p = get(c, "cache");
    CHECK(p.kind == "redis");
    CHECK(p.redis_bin == "/usr/bin/redis-server");
    CHECK(p.stopsignal == SIGTERM);
    CHECK(p.stopwaitsecs == milliseconds(60000));
    CHECK_FALSE(p.stopasgroup);
    CHECK(p.killasgroup);
    CHECK(p.directory == "/");
    CHECK(p.environment.empty());
    CHECK(p.user.empty());  // redis may run as vigild's user
    CHECK(p.health.kind == HealthKind::redis);
    CHECK(p.health.target == "redis://127.0.0.1:6379");
    CHECK(p.health.interval == milliseconds(2000));
    CHECK(p.health.timeout == milliseconds(2000));
    CHECK(p.health.retries == 3);
    CHECK(p.health.start_period == milliseconds(10000));
    auto argv = argv_of(p.command);
    REQUIRE(argv.size() == 8);
    CHECK(argv[0] == "/bin/sh");
    CHECK(argv[2] == kRedisScript);
    CHECK(argv[3] == "vigil-redis");
    CHECK(argv[4] == "/usr/bin/redis-server");
    CHECK(argv[5] == "/var/lib/vigil/redis");
    CHECK(argv[6] == "127.0.0.1");
    CHECK(argv[7] == "6379");
    std::string s(kRedisScript);
    for (auto opt : {"--appendonly yes", "--appendfsync everysec", "--save \"900 1 300 10 60 10000\"",
                     "--dir \"$dir\"", "--bind \"$host\"", "--port \"$port\"", "--daemonize no", "install -d -m 0700"})
        CHECK(s.find(opt) != std::string::npos);
}

TEST_CASE("kinds: redis_bin and paths that need quoting") {
    Config c = ok("[program:r]\nkind = redis\ndata_dir = /srv/it's here/\naddress = [::1]:6380\n"
                  "redis_bin = /opt/redis/bin/redis-server\n");
    const Program& p = get(c, "r");
    CHECK(p.data_dir == "/srv/it's here");  // trailing '/' dropped
    auto argv = argv_of(p.command);
    REQUIRE(argv.size() == 8);
    CHECK(argv[4] == "/opt/redis/bin/redis-server");
    CHECK(argv[5] == "/srv/it's here");
    CHECK(argv[6] == "::1");
    CHECK(argv[7] == "6380");
    CHECK(p.health.target == "redis://[::1]:6380");
    CHECK(p.health.host == "::1");
}

TEST_CASE("kinds: a wildcard address is probed on loopback") {
    Config c = ok("[program:r]\nkind = redis\ndata_dir = /srv/r\naddress = 0.0.0.0:6379\n");
    CHECK(get(c, "r").health.target == "redis://127.0.0.1:6379");
    CHECK(argv_of(get(c, "r").command)[6] == "0.0.0.0");
}

TEST_CASE("kinds: the user's explicit keys win") {
    Config c = ok(kPg + R"(command = /usr/local/bin/my-postgres --fast
stopsignal = TERM
stopwaitsecs = 5s
stopasgroup = true
directory = /srv
environment = PGDATA=/elsewhere,TZ=UTC
healthcheck = tcp://127.0.0.1:5432
health_interval = 7s
health_retries = 9
)");
    const Program& p = get(c, "pg");
    CHECK(p.command == "/usr/local/bin/my-postgres --fast");
    CHECK(p.stopsignal == SIGTERM);
    CHECK(p.stopwaitsecs == milliseconds(5000));
    CHECK(p.stopasgroup);
    CHECK(p.killasgroup);
    CHECK(p.directory == "/srv");
    using Env = std::vector<std::pair<std::string, std::string>>;
    CHECK(p.environment == Env{{"PGDATA", "/elsewhere"}, {"TZ", "UTC"}});
    CHECK(p.health.kind == HealthKind::tcp);
    CHECK(p.health.target == "tcp://127.0.0.1:5432");
    CHECK(p.health.interval == milliseconds(7000));
    CHECK(p.health.retries == 9);
    CHECK(p.health.timeout == milliseconds(2000));  // not written: the kind's
    CHECK(p.health.start_period == milliseconds(30000));
}

TEST_CASE("kinds: the environment is merged, the user's variables first") {
    Config c = ok(kPg + "environment = TZ=UTC\n");
    using Env = std::vector<std::pair<std::string, std::string>>;
    CHECK(get(c, "pg").environment == Env{{"TZ", "UTC"}, {"PGDATA", "/var/lib/vigil/pg"}});
}

TEST_CASE("kinds: health keys tune the default check without a healthcheck line") {
    Config c = ok(kRedis + "health_start_period = 1s\non_unhealthy = restart\nhealth_rise = 2\n");
    const Program& p = get(c, "cache");
    CHECK(p.health.kind == HealthKind::redis);
    CHECK(p.health.start_period == milliseconds(1000));
    CHECK(p.health.rise == 2);
    CHECK(p.on_unhealthy == OnUnhealthy::restart);
    only_error(kRedis + "health_expect_status = 200\n", 5, "health_expect_status: only applies to http://");
}

TEST_CASE("kinds: depends_on NAME:healthy works with the default check") {
    Config c = ok(kRedis + "[program:app]\ncommand = /bin/app\ndepends_on = cache:healthy\n");
    REQUIRE(get(c, "app").depends_on.size() == 1);
    CHECK(get(c, "app").depends_on[0].condition == DependencyCondition::healthy);
    CHECK(names(c) == std::vector<std::string>{"cache", "app"});
}

TEST_CASE("kinds: numprocs makes one data_dir per process, or is refused") {
    Config c = ok("[program:r]\nkind = redis\nnumprocs = 2\nprocess_name = r%(process_num)d\n"
                  "data_dir = /srv/r%(process_num)d\naddress = 127.0.0.1:%(process_num)d000\nnumprocs_start = 6\n");
    CHECK(get(c, "r6").data_dir == "/srv/r6");
    CHECK(get(c, "r7").data_dir == "/srv/r7");
    only_error("[program:r]\nkind = redis\nnumprocs = 2\nprocess_name = r%(process_num)d\n"
               "data_dir = /srv/r\naddress = 127.0.0.1:600%(process_num)d\n",
               5, "data_dir: '/srv/r' is also the data_dir of r0");
}

TEST_CASE("kinds: errors point at the line") {
    SECTION("missing data_dir") {
        only_error("[program:pg]\nkind = postgres\nuser = postgres\naddress = 127.0.0.1:5432\n"
                   "pg_bin_dir = /usr/lib/postgresql/15/bin\n",
                   2, "kind: postgres needs data_dir = /absolute/path");
    }
    SECTION("relative data_dir") {
        only_error(kRedis + "[program:r2]\nkind = redis\ndata_dir = data\naddress = 127.0.0.1:1\n", 7,
                   "data_dir: must be an absolute path, got 'data'");
    }
    SECTION("missing address") {
        only_error("[program:r]\nkind = redis\ndata_dir = /srv/r\n", 2,
                   "kind: redis needs address = IP:PORT");
    }
    SECTION("address by name") {
        only_error("[program:r]\nkind = redis\ndata_dir = /srv/r\naddress = localhost:6379\n", 4,
                   "address: kind = redis listens on a numeric IP address (such as 127.0.0.1), got 'localhost'");
    }
    SECTION("address without a port") {
        only_error("[program:r]\nkind = redis\ndata_dir = /srv/r\naddress = 127.0.0.1\n", 4,
                   "address: missing port");
    }
    SECTION("postgres without user") {
        only_error("[program:pg]\nkind = postgres\ndata_dir = /srv/pg\naddress = 127.0.0.1:5432\n"
                   "pg_bin_dir = /usr/lib/postgresql/15/bin\n",
                   2, "postgres refuses to run as root: set user = postgres");
    }
    SECTION("postgres as root") {
        only_error("[program:pg]\nkind = postgres\ndata_dir = /srv/pg\naddress = 127.0.0.1:5432\nuser = root\n"
                   "pg_bin_dir = /usr/lib/postgresql/15/bin\n",
                   5, "user: postgres refuses to run as root: set user = postgres");
        only_error("[program:pg]\nkind = postgres\ndata_dir = /srv/pg\naddress = 127.0.0.1:5432\nuser = 0\n"
                   "pg_bin_dir = /usr/lib/postgresql/15/bin\n",
                   5, "user: postgres refuses to run as root");
    }
    SECTION("keys of another kind") {
        auto errs = errors("[program:a]\ncommand = a\ndata_dir = /x\npg_bin_dir = /y\nredis_bin = /z\n" + kRedis +
                           "db_name = x\n");
        CHECK(errs.size() == 4);
        CHECK(has_error(errs, 3, "data_dir: only applies to kind = postgres or kind = redis"));
        CHECK(has_error(errs, 4, "pg_bin_dir: only applies to kind = postgres"));
        CHECK(has_error(errs, 5, "redis_bin: only applies to kind = redis"));
        CHECK(has_error(errs, 10, "db_name: only applies to kind = postgres"));
    }
    SECTION("bad names and paths") {
        auto errs = errors(kPg + "db_user = \"x\"\ndb_name = a;b\n" +
                           "[program:r]\nkind = redis\ndata_dir = /r\naddress = 127.0.0.1:1\nredis_bin = redis\n");
        CHECK(errs.size() == 3);
        CHECK(has_error(errs, 7, "db_user: expected a role name"));
        CHECK(has_error(errs, 8, "db_name: expected a database name"));
        CHECK(has_error(errs, 13, "redis_bin: must be an absolute path"));
    }
    SECTION("a data_dir postgres cannot put its socket in") {
        only_error("[program:pg]\nkind = postgres\nuser = postgres\naddress = 127.0.0.1:5432\n"
                   "pg_bin_dir = /p\ndata_dir = /srv/a,b\n",
                   6, "must not contain spaces");
        only_error("[program:pg]\nkind = postgres\nuser = postgres\naddress = 127.0.0.1:5432\n"
                   "pg_bin_dir = /p\ndata_dir = /" +
                       std::string(100, 'x') + "\n",
                   6, "data_dir: is too long for postgres' Unix socket");
    }
    SECTION("every error at once") {
        auto errs = errors("[program:pg]\nkind = postgres\nuser = root\n");
        CHECK(has_error(errs, 2, "kind: postgres needs data_dir"));
        CHECK(has_error(errs, 2, "kind: postgres needs address"));
        CHECK(has_error(errs, 3, "user: postgres refuses to run as root"));
    }
}

TEST_CASE("kinds: a command needs no pg_bin_dir, the generated one does") {
    Program p = pg_program();
    auto errs = apply_kind(p, kPgKeys, fake_context({}));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].key == "kind");
    CHECK(errs[0].message.find("no PostgreSQL server found") != std::string::npos);

    Program q = pg_program();
    q.command = "/opt/pg/postgres -D /srv/pg";
    ExplicitKeys keys = kPgKeys;
    keys.insert("command");
    CHECK(apply_kind(q, keys, fake_context({})).empty());
    CHECK(q.command == "/opt/pg/postgres -D /srv/pg");
}

TEST_CASE("kinds: the newest installed PostgreSQL is the default") {
    Program p = pg_program();
    REQUIRE(apply_kind(p, kPgKeys,
                       fake_context({"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/16/bin",
                                     "/usr/lib/postgresql/15/bin"}))
                .empty());
    CHECK(p.pg_bin_dir == "/usr/lib/postgresql/16/bin");
    CHECK(argv_of(p.command)[4] == "/usr/lib/postgresql/16/bin");
    CHECK(newest_pg_bin_dir({}).empty());
    CHECK(newest_pg_bin_dir({"/a/9.6/bin", "/a/10/bin"}) == "/a/10/bin");
    CHECK(newest_pg_bin_dir({"/a/9.6/bin", "/a/9.10/bin"}) == "/a/9.10/bin");
}

TEST_CASE("kinds: a user whose uid is 0 is refused for postgres") {
    Program p = pg_program();
    p.user = "toor";
    auto errs = apply_kind(p, kPgKeys, fake_context());
    REQUIRE(errs.size() == 1);
    CHECK(errs[0] == KindError{"user", "postgres refuses to run as root: set user = postgres (or another user "
                                       "that owns data_dir)"});
    Program q = pg_program();
    q.user = "nosuchuser";  // unknown here: the spawn reports it
    CHECK(apply_kind(q, kPgKeys, fake_context()).empty());
}

TEST_CASE("kinds: plain programs are left alone") {
    Program p;
    p.kind = "process";
    p.command = "/bin/true";
    Program before = p;
    CHECK(apply_kind(p, {"command"}, fake_context()).empty());
    CHECK(p == before);
}

TEST_CASE("kinds: quote_word survives split_command") {
    for (std::string s : {"", "plain", "it's", "'", "a b\tc", "\"$x\" \\ `y`", "multi\nline"}) {
        auto argv = argv_of("x " + quote_word(s));
        REQUIRE(argv.size() == 2);
        CHECK(argv[1] == s);
    }
}
