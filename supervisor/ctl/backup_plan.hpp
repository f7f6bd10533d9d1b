// The pure parts of `vigilctl backup` and `vigilctl restore`
// (supervisor/ctl/backup.cpp does the I/O): the backup's manifest, the
// checks that decide whether a directory may be restored into a program,
// the name the current data is moved aside to, the AOF manifest that makes
// Redis load a restored RDB, and what INFO says of the keyspace (Redis'
// replies are read by core/resp.hpp).
//
// A backup directory holds two things:
//   vigil-backup.json   the manifest (written last: its presence marks a complete backup)
//   data/               what goes into data_dir: pg_basebackup's plain output
//                       (with its WAL and backup_manifest), or Redis' dump.rdb
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/core/redis_replication.hpp"

namespace vigil::ctl::backup {

inline constexpr std::string_view kManifestName = "vigil-backup.json";
inline constexpr std::string_view kDataName = "data";
inline constexpr std::string_view kFormat = "vigil-backup/1";

struct Manifest {
    std::string format{kFormat};
    std::string program;         // the process it was taken from (a restore elsewhere needs --force);
                                 // of a replicated pair: the pair's name (its configured primary)
    std::string pair;            // replicated pair (replica_of): its name, the data being the pair's
    std::string source;          // replicated pair: the member it was read from (a replica or the primary)
    std::string kind;            // postgres | redis
    std::string time;            // UTC, ISO 8601
    std::string server_version;  // "15.20", "7.0.15"
    std::string method;          // how it was taken
    std::string rdb_file;        // redis: the RDB's name in data/ (dbfilename)
    std::string aof_dir;         // redis: appenddirname at backup time
    std::string aof_file;        // redis: appendfilename at backup time
    std::string db_user;         // postgres: the program's role (db_user) at backup time
    std::string db_name;         // postgres: its database (db_name)
    std::uint64_t bytes = 0;     // size of data/
    std::int64_t keys = -1;      // redis: keys at backup time (-1 unknown)
    std::int64_t duration_ms = 0;
};

std::string to_json(const Manifest& m);
std::optional<Manifest> parse_manifest(std::string_view text, std::string& error);

// Empty when a backup described by `m` may be restored into the program
// `name` of `kind`; otherwise why not, as one sentence. A backup of another
// program (or one whose manifest names none) is refused unless `force`: it
// would replace this program's data — its roles, its databases — with the
// other's.
// `pair`: the pair `name` belongs to ("" for none): a backup of that pair,
// taken from whichever member, is `name`'s own data.
std::string restore_refusal(const Manifest& m, const std::string& kind, const std::string& name, bool force,
                            const std::string& pair = {});

// A member of a replicated pair, as vigild describes it (GET /v1/programs).
struct PairMember {
    std::string name, state, health;  // "RUNNING"; "healthy", "" (no check)
    std::string role;                 // primary | replica | fenced
    bool streaming = false;           // a replica: the primary says it streams
};
// The member a backup of the pair is read from: the first replica that is
// RUNNING, healthy (or has no check) and streaming — it holds what the
// primary holds, and the primary is spared the load (pgBackRest's and
// Barman's backup-standby) — else the primary. Null when the pair has no
// primary (a failover under way). `why` says which and why, for the output.
const PairMember* backup_source(const std::vector<PairMember>& members, std::string& why);

// "15.20 (Debian 15.20-0+deb12u1)", "postgres (PostgreSQL) 15.20 …" or the
// PG_VERSION file's "15\n" → "15"; "9.6.24" → "9.6". Empty if none.
std::string pg_major(std::string_view version_text);

std::string iso_utc(std::time_t t);    // 2026-01-02T03:04:05Z
std::string stamp_utc(std::time_t t);  // 20260102T030405Z

// Where the current data goes: DATA.before-restore-STAMP, with -2, -3, …
// appended while `exists` says the name is taken. Never an existing path.
std::string aside_path(const std::string& data_dir, std::time_t now,
                       const std::function<bool(const std::string&)>& exists);

// Redis 7's multi-part AOF: the base file name for `appendfilename`, and a
// manifest holding that base alone. Redis loads the AOF, not the RDB, when
// appendonly is yes, so a restore installs the RDB as the AOF's base too.
std::string aof_base_name(const std::string& appendfilename);
std::string aof_manifest_text(const std::string& appendfilename);

// "key:value" lines of INFO (sections and blank lines skipped): the parser
// vigild's Redis replication driver reads INFO with.
using core::redis::parse_info;
// Sum of keys=N over the dbN lines of INFO keyspace; -1 when unknown.
std::int64_t keys_in(const std::map<std::string, std::string>& info);

}  // namespace vigil::ctl::backup
