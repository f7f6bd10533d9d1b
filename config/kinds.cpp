#include "config/kinds.hpp"

#include <arpa/inet.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <filesystem>
#include <system_error>

#include "config/values.hpp"

namespace vigil::config {

// A data directory that exists but belongs to someone else: say so in one
// line (vigilctl status shows it, core/exit_reason.hpp) instead of the
// server's or install's puzzling failure further on.
#define VIGIL_KIND_OWNER_CHECK \
    "if [ -e \"$2\" ] && [ ! -O \"$2\" ]; then\n" \
    "  echo \"vigil: error: data_dir $2 is owned by $(stat -c %U \"$2\"), but the program runs as $(id -un): " \
    "chown -R $(id -un) $2\" >&2\n" \
    "  exit 1\n" \
    "fi\n"

// Runs as the program's user (vigild switches before exec). Initialises the
// data directory once (PG_VERSION missing), creates db_name, then becomes
// the postmaster, so vigild's pid is the server's and its signals reach it.
//
// In a replicated pair (docs/replication.md) vigild says at each start what
// the server is, in the environment: VIGIL_ROLE (primary, replica, fenced),
// VIGIL_UPSTREAM_HOST/PORT and VIGIL_SLOT (a replica's primary and its
// replication slot), VIGIL_PAIRED (the pair has been initialised). A replica
// without data is made by pg_basebackup from its primary; a former primary
// that still has its data is rewound with pg_rewind (moved aside and backed
// up afresh when that fails); a member of an initialised pair is never
// initdb'ed into a new, empty primary.
//
// Before pg_rewind: a CHECKPOINT on the new primary, because pg_rewind reads
// the source's timeline from its control file, which a promotion updates
// only at its next checkpoint; right after a promotion pg_rewind would see
// one timeline, say "no rewind required", and leave an old primary with WAL
// past the fork that can never follow the new timeline (scenario 8c). And an
// old primary that was not shut down cleanly gets its crash recovery here,
// with wal_log_hints on: pg_rewind's own runs it with the data directory's
// config alone, which turns wal_log_hints off in the control file and makes
// pg_rewind refuse the directory. Pair members keep 64 MB of WAL past their
// checkpoints (wal_keep_size): pg_rewind needs the old primary's own WAL
// back to the last checkpoint the two share.
//
// The Unix socket lives beside data_dir, in DATA.sock (0700, the program
// user's), not in it: pg_rewind copies what the new primary's data
// directory holds and fails on a socket there ("could not open file
// .s.PGSQL.PORT: No such device or address"). Where DATA.sock cannot be
// made (a parent the user may not write), the socket stays in data_dir.
const std::string_view kPostgresScript =
    "set -e\n"
    VIGIL_KIND_OWNER_CHECK
    "role=${VIGIL_ROLE:-primary} name=${VIGIL_NAME:-} slot=${VIGIL_SLOT:-} hints=off keep=0 conn=\n"
    "[ -z \"${VIGIL_ROLE:-}\" ] || { hints=on; keep=64MB; }\n"
    "if [ \"$role\" = fenced ]; then\n"
    "  echo \"vigil: error: $name is fenced (a primary that failed): vigild rejoins it as a replica; it never \"\\\n"
    "\"starts as a primary on its own\" >&2\n"
    "  exit 1\n"
    "fi\n"
    "if [ \"$role\" = replica ]; then\n"
    "  conn=\"host=$VIGIL_UPSTREAM_HOST port=$VIGIL_UPSTREAM_PORT user=$5 application_name=$name\"\n"
    "  if [ -s \"$2/PG_VERSION\" ] && [ ! -f \"$2/standby.signal\" ]; then\n"
    "    echo \"vigil: $2 was a primary: rewinding it onto $VIGIL_UPSTREAM_HOST:$VIGIL_UPSTREAM_PORT with pg_rewind\" >&2\n"
    "    \"$1/psql\" -X -q -w -d \"$conn dbname=postgres\" -c CHECKPOINT\n"
    "    case \"$(\"$1/pg_controldata\" \"$2\" | sed -n 's/^Database cluster state: *//p')\" in\n"
    "      'shut down'|'shut down in recovery') ;;\n"
    "      *) \"$1/postgres\" --single -F -D \"$2\" -c wal_log_hints=on template1 </dev/null >/dev/null || true ;;\n"
    "    esac\n"
    "    if ! \"$1/pg_rewind\" -D \"$2\" --source-server=\"$conn dbname=postgres\"; then\n"
    "      aside=\"$2.before-rejoin-$(date +%Y%m%dT%H%M%S)\"\n"
    "      echo \"vigil: pg_rewind failed: keeping $2 as $aside and taking a fresh base backup\" >&2\n"
    "      mv \"$2\" \"$aside\"\n"
    "    fi\n"
    "  fi\n"
    "  \"$1/psql\" -X -q -w -d \"$conn dbname=postgres\" -c \"SELECT pg_create_physical_replication_slot('$slot') \"\\\n"
    "\"WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$slot')\" >/dev/null\n"
    "  if [ ! -s \"$2/PG_VERSION\" ]; then\n"
    "    echo \"vigil: $2 has no PG_VERSION: base backup from $VIGIL_UPSTREAM_HOST:$VIGIL_UPSTREAM_PORT\" >&2\n"
    "    install -d -m 0700 \"$2\"\n"
    "    \"$1/pg_basebackup\" -D \"$2\" -d \"$conn\" -X stream -S \"$slot\" -c fast\n"
    "  fi\n"
    "  touch \"$2/standby.signal\"\n"
    "elif [ ! -s \"$2/PG_VERSION\" ]; then\n"
    "  if [ -n \"${VIGIL_PAIRED:-}\" ]; then\n"
    "    echo \"vigil: error: $2 has no PG_VERSION, and $name is part of a replicated pair: it is not initialised \"\\\n"
    "\"into a new, empty primary (vigild fails over to the replica instead)\" >&2\n"
    "    exit 3\n"
    "  fi\n"
    "  echo \"vigil: $2 has no PG_VERSION: initialising it with $1/initdb\" >&2\n"
    "  install -d -m 0700 \"$2\"\n"
    "  \"$1/initdb\" -D \"$2\" --username=\"$5\" --auth=trust --encoding=UTF8 --locale=C.UTF-8\n"
    "  if [ \"$6\" != postgres ]; then\n"
    "    printf 'CREATE DATABASE \"%s\" OWNER \"%s\";\\n' \"$6\" \"$5\" |\n"
    "      \"$1/postgres\" --single -D \"$2\" postgres >/dev/null\n"
    "  fi\n"
    "fi\n"
    "sock=\"${2%/}.sock\"\n"
    "install -d -m 0700 \"$sock\" 2>/dev/null || sock=\"$2\"\n"
    "exec \"$1/postgres\" -D \"$2\" -c listen_addresses=\"$3\" -p \"$4\" -c unix_socket_directories=\"$sock\" "
    "-c fsync=on -c synchronous_commit=on -c wal_level=replica -c full_page_writes=on "
    "-c recovery_init_sync_method=syncfs -c wal_log_hints=\"$hints\" -c wal_keep_size=\"$keep\" -c cluster_name=\"$name\" "
    "-c primary_conninfo=\"$conn\" -c primary_slot_name=\"$slot\"\n";

// AOF first (redis loads it before the RDB when appendonly is on), fsync
// every second, and the RDB schedule of the seed as a second copy. A replica
// is sent its first copy at once (Redis 7 otherwise waits 5 s for more
// replicas to share the transfer with).
//
// In a replicated pair (docs/replication.md) the same environment as for
// postgres says what the server is: a replica starts with --replicaof its
// primary (Redis resynchronises it itself, partially or in full: a former
// master's own data is replaced); a fenced member refuses to start; a
// primary of an initialised pair whose data is gone (no AOF manifest, no
// RDB) refuses to start as an empty master, whose replicas would
// resynchronise to empty: vigild fails over to the replica instead.
const std::string_view kRedisScript =
    "set -e\n"
    VIGIL_KIND_OWNER_CHECK
    "bin=$1 dir=$2 host=$3 port=$4 role=${VIGIL_ROLE:-primary} name=${VIGIL_NAME:-}\n"
    "if [ \"$role\" = fenced ]; then\n"
    "  echo \"vigil: error: $name is fenced (a primary that failed): vigild rejoins it as a replica; it never \"\\\n"
    "\"starts as a primary on its own\" >&2\n"
    "  exit 1\n"
    "fi\n"
    "set --\n"
    "if [ \"$role\" = replica ]; then\n"
    "  echo \"vigil: $name starts as a replica of $VIGIL_UPSTREAM_HOST:$VIGIL_UPSTREAM_PORT (REPLICAOF)\" >&2\n"
    "  set -- --replicaof \"$VIGIL_UPSTREAM_HOST\" \"$VIGIL_UPSTREAM_PORT\" --replica-read-only yes\n"
    "elif [ -n \"${VIGIL_PAIRED:-}\" ] && ! ls \"$dir\"/appendonlydir/*.manifest >/dev/null 2>&1 && "
    "[ ! -s \"$dir/dump.rdb\" ]; then\n"
    "  echo \"vigil: error: $dir has no AOF and no RDB, and $name is part of a replicated pair: it is not started \"\\\n"
    "\"as a new, empty master (its replica would resynchronise to empty; vigild fails over to the replica instead)\" >&2\n"
    "  exit 3\n"
    "fi\n"
    "install -d -m 0700 \"$dir\"\n"
    "exec \"$bin\" --port \"$port\" --bind \"$host\" --dir \"$dir\" --appendonly yes --appendfsync everysec "
    "--save \"900 1 300 10 60 10000\" --aof-use-rdb-preamble yes --daemonize no --supervised systemd "
    "--repl-diskless-sync-delay 0 \"$@\"\n";
#undef VIGIL_KIND_OWNER_CHECK

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kUnixPathMax = 107;  // sizeof(sockaddr_un::sun_path) - 1

bool is_numeric_ip(const std::string& host, bool& v6) {
    unsigned char buf[16];
    if (::inet_pton(AF_INET, host.c_str(), buf) == 1) {
        v6 = false;
        return true;
    }
    v6 = true;
    return ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool valid_identifier(std::string_view s) {
    if (s.empty() || s.size() > 63) return false;
    if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
}

std::vector<int> version_of(const std::string& bin_dir) {
    // "/usr/lib/postgresql/15/bin" → {15}; "…/9.6/bin" → {9, 6}
    std::filesystem::path p(bin_dir);
    std::string v = p.parent_path().filename().string();
    std::vector<int> out;
    int n = -1;
    for (char c : v) {
        if (std::isdigit(static_cast<unsigned char>(c))) n = (n < 0 ? 0 : n * 10) + (c - '0');
        else {
            if (n >= 0) out.push_back(n);
            n = -1;
            if (c != '.') break;
        }
        if (n > 1000000) break;
    }
    if (n >= 0) out.push_back(n);
    return out;
}

struct Check {
    Program& p;
    const ExplicitKeys& keys;
    std::vector<KindError> errors;

    bool has(std::string_view key) const { return keys.count(key) != 0; }
    void error(std::string key, std::string message) { errors.push_back({std::move(key), std::move(message)}); }

    // An absolute path in `key`; reports and returns false otherwise.
    bool absolute(std::string_view key, const std::string& value) {
        if (!value.empty() && value.front() == '/') return true;
        error(std::string(key), "must be an absolute path, got '" + value + "'");
        return false;
    }
};

}  // namespace

bool kind_has_default_health(std::string_view kind) { return kind == "postgres" || kind == "redis"; }

std::string newest_pg_bin_dir(const std::vector<std::string>& dirs) {
    std::string best;
    std::vector<int> best_version;
    for (const auto& d : dirs) {
        auto v = version_of(d);
        if (best.empty() || v > best_version || (v == best_version && d > best)) {
            best = d;
            best_version = std::move(v);
        }
    }
    return best;
}

std::string quote_word(std::string_view text) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    out += '\'';
    return out;
}

KindContext system_kind_context() {
    KindContext ctx;
    ctx.uid_of = [](const std::string& user) -> std::optional<unsigned> {
        if (!user.empty() && std::all_of(user.begin(), user.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
            user.size() < 10)
            return static_cast<unsigned>(std::stoul(user));
        long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
        std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
        passwd pw{};
        passwd* found = nullptr;
        if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) return std::nullopt;
        return static_cast<unsigned>(found->pw_uid);
    };
    ctx.pg_bin_dirs = [] {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
            auto bin = entry.path() / "bin";
            if (::access((bin / "postgres").c_str(), X_OK) == 0 && ::access((bin / "initdb").c_str(), X_OK) == 0)
                out.push_back(bin.string());
        }
        return out;
    };
    return ctx;
}

std::vector<KindError> apply_kind(Program& p, const ExplicitKeys& explicit_keys, const KindContext& ctx) {
    Check c{p, explicit_keys, {}};
    const bool postgres = p.kind == "postgres";
    const bool redis = p.kind == "redis";

    // Keys of the other kinds.
    for (std::string_view key : kKindKeys) {
        if (!c.has(key)) continue;
        bool pg_only = key == "pg_bin_dir" || key == "db_user" || key == "db_name";
        bool redis_only = key == "redis_bin";
        if (pg_only && !postgres) c.error(std::string(key), "only applies to kind = postgres");
        else if (redis_only && !redis) c.error(std::string(key), "only applies to kind = redis");
        else if (!postgres && !redis) c.error(std::string(key), "only applies to kind = postgres or kind = redis");
    }
    // vigil-proxy says READY=1 once it listens and its admin socket is up:
    // RUNNING then, so a handover (docs/proxy.md) waits no longer than that.
    if (p.kind == "proxy" && !c.has("notify")) p.notify = true;
    if (!postgres && !redis) return std::move(c.errors);
    const std::string kind = p.kind;

    // data_dir
    bool data_ok = false;
    if (p.data_dir.empty()) {
        c.error(c.has("data_dir") ? "data_dir" : "kind",
                kind + " needs data_dir = /absolute/path (the directory its data lives in)");
    } else if (c.absolute("data_dir", p.data_dir)) {
        while (p.data_dir.size() > 1 && p.data_dir.back() == '/') p.data_dir.pop_back();
        data_ok = p.data_dir != "/";
        if (!data_ok) c.error("data_dir", "must not be /");
    }

    // address → host and port
    std::string host, port;
    bool v6 = false;
    if (p.address.empty()) {
        if (!c.has("address"))  // else the loader has refused its value
            c.error("kind", kind + " needs address = IP:PORT (where it listens, such as 127.0.0.1:" +
                            (postgres ? "5432" : "6379") + ")");
    } else {
        std::string why;
        auto hp = parse_host_port(p.address, why);
        if (!hp) c.error("address", why);  // the loader refuses these first; defensive
        else if (!is_numeric_ip(hp->host, v6))
            c.error("address", "kind = " + kind + " listens on a numeric IP address (such as 127.0.0.1), got '" +
                                   hp->host + "'");
        else {
            host = hp->host;
            port = std::to_string(hp->port);
        }
    }

    std::string db_user = p.db_user.empty() ? "postgres" : p.db_user;
    std::string db_name = p.db_name.empty() ? "postgres" : p.db_name;
    if (postgres) {
        // postgres itself refuses root ("root" execution of the PostgreSQL
        // server is not permitted); say so now, not at every restart.
        const std::string hint = "postgres refuses to run as root: set user = postgres (or another user that "
                                 "owns data_dir)";
        if (p.user.empty()) {
            c.error("kind", "kind = postgres needs user = …: " + hint);
        } else {
            auto uid = ctx.uid_of ? ctx.uid_of(p.user) : std::nullopt;
            if (p.user == "root" || p.user == "0" || (uid && *uid == 0)) c.error("user", hint);
        }
        if (data_ok) {
            if (p.data_dir.find_first_of(",\" \t\n\r'\\") != std::string::npos)
                c.error("data_dir", "kind = postgres puts its socket beside data_dir, which must not contain spaces, "
                                    "quotes, backslashes or ','; got '" + p.data_dir + "'");
            else if (p.data_dir.size() + std::string_view(".sock/.s.PGSQL.").size() + 5 > kUnixPathMax)
                c.error("data_dir", "is too long for postgres' Unix socket (at most " +
                                        std::to_string(kUnixPathMax - 20) + " characters)");
        }
        if (c.has("db_user") && !valid_identifier(p.db_user))
            c.error("db_user", "expected a role name of letters, digits, '_' or '-' (at most 63), got '" +
                                   p.db_user + "'");
        if (c.has("db_name") && !valid_identifier(p.db_name))
            c.error("db_name", "expected a database name of letters, digits, '_' or '-' (at most 63), got '" +
                                   p.db_name + "'");
        if (c.has("pg_bin_dir")) c.absolute("pg_bin_dir", p.pg_bin_dir);
    } else {
        if (c.has("redis_bin")) c.absolute("redis_bin", p.redis_bin);
        else p.redis_bin = "/usr/bin/redis-server";
    }

    // The command: only resolved (and pg_bin_dir only looked for) when the
    // user did not write one.
    if (!c.has("command")) {
        if (postgres && !c.has("pg_bin_dir")) {
            p.pg_bin_dir = ctx.pg_bin_dirs ? newest_pg_bin_dir(ctx.pg_bin_dirs()) : std::string();
            if (p.pg_bin_dir.empty())
                c.error("kind", "no PostgreSQL server found in /usr/lib/postgresql/*/bin: install postgresql or "
                                "set pg_bin_dir");
        }
        if (c.errors.empty() && !host.empty()) {
            if (postgres)
                p.command = "/bin/sh -c " + quote_word(kPostgresScript) + " vigil-postgres " +
                            quote_word(p.pg_bin_dir) + " " + quote_word(p.data_dir) + " " + quote_word(host) +
                            " " + port + " " + quote_word(db_user) + " " + quote_word(db_name);
            else
                p.command = "/bin/sh -c " + quote_word(kRedisScript) + " vigil-redis " + quote_word(p.redis_bin) +
                            " " + quote_word(p.data_dir) + " " + quote_word(host) + " " + port;
        }
    }
    // An address the loader refused leaves host empty: nothing to build on.
    if (!c.errors.empty() || host.empty()) return std::move(c.errors);

    // Stop: postgres' fast shutdown is SIGINT to the postmaster alone (as
    // systemd's KillMode=mixed does it: the postmaster stops its children);
    // redis saves on SIGTERM. Whatever is left at the deadline is killed as a group.
    if (!c.has("stopsignal")) p.stopsignal = postgres ? SIGINT : SIGTERM;
    if (!c.has("stopwaitsecs")) p.stopwaitsecs = Duration{60000};
    if (!c.has("stopasgroup")) p.stopasgroup = false;
    if (!c.has("killasgroup")) p.killasgroup = true;
    if (!c.has("directory")) p.directory = "/";  // vigild's cwd may be unreadable by `user`
    // Both servers say READY=1 on NOTIFY_SOCKET once they accept connections
    // (postgres after recovery, redis after loading its AOF): RUNNING then,
    // not after a guess of startsecs.
    if (!c.has("notify")) p.notify = true;
    if (postgres) {
        bool set = std::any_of(p.environment.begin(), p.environment.end(),
                               [](const auto& kv) { return kv.first == "PGDATA"; });
        if (!set) p.environment.emplace_back("PGDATA", p.data_dir);
    }

    // The default probe, on loopback when the server listens on every address.
    if (!c.has("healthcheck")) {
        std::string probe_host = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
        if (v6) probe_host = "[" + probe_host + "]";
        std::string url = postgres ? "postgres://" + db_user + "@" + probe_host + ":" + port + "/" + db_name
                                   : "redis://" + probe_host + ":" + port;
        std::string why;
        auto hc = parse_healthcheck(url, why);
        if (!hc) {
            c.error("kind", "cannot build the default healthcheck " + url + ": " + why);
            return std::move(c.errors);
        }
        p.health.kind = hc->kind;
        p.health.target = hc->target;
        p.health.host = hc->host;
        p.health.port = hc->port;
        p.health.path = hc->path;
        p.health.user = hc->user;
        p.health.database = hc->database;
    }
    if (!c.has("health_interval")) p.health.interval = 2s;
    if (!c.has("health_timeout")) p.health.timeout = 2s;
    if (!c.has("health_retries")) p.health.retries = 3;
    if (!c.has("health_start_period")) p.health.start_period = postgres ? Duration{30s} : Duration{10s};
    return std::move(c.errors);
}

}  // namespace vigil::config
