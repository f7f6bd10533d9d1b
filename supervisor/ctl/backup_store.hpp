// What `vigilctl backup` and `vigilctl restore` need of each kind of data
// store, behind one interface: a consistent backup of the running server,
// and a backup staged as the data directory it restores. backup.cpp does
// the rest for every kind (the program from vigild, the checks, the stop,
// the swap, the start); backup_postgres.cpp and backup_redis.cpp are the
// kinds. The helpers below are shared by both and by the restore.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>

#include "supervisor/ctl/backup_io.hpp"
#include "supervisor/ctl/backup_plan.hpp"

namespace vigil::ctl::backup_store {

// The program, as vigild describes it (GET /v1/programs/NAME).
struct Program {
    std::string name, kind, user, address, state, description, health;
    std::string data_dir, pg_bin_dir, redis_bin, db_user, db_name;
    std::string host;  // for TCP clients: loopback when it listens on every address
    std::uint16_t port = 0;
    // A member of a replicated pair (GET's "replication"); all empty when not.
    std::string pair;       // the pair's name: its configured primary
    std::string role;       // primary | replica | fenced, now
    std::string primary;    // the pair's primary now
    std::string operation;  // a failover or switchover under way
    bool streaming = false;
};

// One per kind. Every failure is a backup_io::fail.
struct Store {
    // A consistent backup of the running server into `dir` (new or empty;
    // emptied again when this fails), its manifest written last. Progress
    // lines go to `out`; `timeout` bounds the waits, in seconds.
    void (*backup)(const Program& p, const std::filesystem::path& dir, std::ostream& out, long timeout);
    // Checks `dir` as a backup for `p` and builds what goes into its
    // data_dir at `stage` (a sibling of data_dir: the swap is a rename).
    void (*stage)(const backup::Manifest& m, const Program& p, const std::filesystem::path& dir,
                  const std::filesystem::path& stage);
};

extern const Store postgres_store;  // backup_postgres.cpp
extern const Store redis_store;     // backup_redis.cpp
// kind = postgres or redis (the caller checked which).
const Store& store_for(const std::string& kind);

// --- shared by the stores and the restore ---------------------------------------

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t);
std::string human_bytes(std::uint64_t n);
std::string trimmed(std::string s);
// The last few lines of a tool's output, for an error message.
std::string tail_lines(const std::string& text, std::size_t n = 4);
// Who runs the tools and owns the files for `p`.
backup_io::Owner owner_of(const Program& p);
// "NAME: ", the head of each progress line.
std::string say(const Program& p);

// Empties DIR again (removes it, when it was made here) if the backup fails
// after DIR was taken: never a half backup left behind, never a byte
// removed that was there before.
class BackupDirGuard {
public:
    BackupDirGuard(std::filesystem::path dir, bool made) : dir_(std::move(dir)), made_(made) {}
    ~BackupDirGuard();
    BackupDirGuard(const BackupDirGuard&) = delete;
    BackupDirGuard& operator=(const BackupDirGuard&) = delete;
    void done() { done_ = true; }

private:
    std::filesystem::path dir_;
    bool made_;
    bool done_ = false;
};

// DIR for a new backup: created 0700, or an existing empty directory.
// Returns whether it was created here.
bool prepare_backup_dir(const std::filesystem::path& dir);

// A backup's manifest as every kind starts it: program, kind, time, version.
backup::Manifest manifest_of(const Program& p, const std::string& server_version, const std::string& method);
// The last steps of every backup, once its data/ is complete: the size and
// duration into the manifest, the manifest written (last: its presence marks
// a complete backup), everything given to `who`, the directory kept.
void seal(backup::Manifest& m, const std::filesystem::path& dir, const backup_io::Owner& who, Clock::time_point t0,
          BackupDirGuard& guard);

}  // namespace vigil::ctl::backup_store
