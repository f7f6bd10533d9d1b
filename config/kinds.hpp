// `kind = postgres` and `kind = redis`: a pure translation of a parsed
// Program. From a few kind keys (data_dir, address, pg_bin_dir, redis_bin,
// db_user, db_name) it fills in the command, stop signal and grace period,
// environment, working directory and a default health check — each only when
// the user did not write that key, so a kind program accepts every key of a
// plain program as an override.
//
// The data directory is prepared inside the child's own command (a small
// `/bin/sh -c` wrapper, see docs/config.md#kinds), so vigild's event loop
// never blocks on initdb and its output lands in the program's log.
//
// The two facts that need the machine (a user's uid, the installed
// PostgreSQL versions) come in through KindContext, so tests stay pure.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"

namespace vigil::config {

struct KindContext {
    // The uid of a user name; nullopt when unknown here (the spawn will say so).
    std::function<std::optional<unsigned>(const std::string& user)> uid_of;
    // Directories that hold a PostgreSQL server (…/<version>/bin); the newest
    // version is the default pg_bin_dir.
    std::function<std::vector<std::string>()> pg_bin_dirs;
};

// getpwnam() and /usr/lib/postgresql/*/bin.
KindContext system_kind_context();

// An error for the line of `key` (the loader falls back to the `kind` line
// when the key is not in the section); `message` does not name the key.
struct KindError {
    std::string key;
    std::string message;
    bool operator==(const KindError&) const = default;
};

using ExplicitKeys = std::set<std::string, std::less<>>;

// Fills in the kind's defaults for every key not in `explicit_keys`, and
// checks the kind keys. Plain `process` and `proxy` programs only get the
// check that no postgres/redis key is set.
std::vector<KindError> apply_kind(Program& p, const ExplicitKeys& explicit_keys, const KindContext& ctx);

// Keys only postgres/redis programs accept.
inline constexpr std::string_view kKindKeys[] = {"data_dir", "pg_bin_dir", "redis_bin", "db_user", "db_name"};

// postgres and redis bring a health check when the config has none.
bool kind_has_default_health(std::string_view kind);

// The dir whose parent's name is the highest version ("…/16/bin" over
// "…/9.6/bin"); empty when `dirs` is.
std::string newest_pg_bin_dir(const std::vector<std::string>& dirs);

// One word for split_command (config/command_line.hpp): 'text', with a
// single quote written as '\''.
std::string quote_word(std::string_view text);

// The scripts the wrappers run, with their arguments as $1…; exposed for tests.
extern const std::string_view kPostgresScript;  // $1 bin dir, $2 data dir, $3 host, $4 port, $5 user, $6 database
extern const std::string_view kRedisScript;     // $1 redis-server, $2 data dir, $3 host, $4 port

}  // namespace vigil::config
