// kind = redis: a backup is one BGSAVE's RDB (checked by redis-check-rdb
// when installed); a restore puts it in place as the RDB and as the base of
// a fresh AOF manifest, so Redis loads exactly it whether AOF is on or off.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <thread>

#include "supervisor/ctl/backup_store.hpp"
#include "supervisor/ctl/commands.hpp"
#include "supervisor/ctl/redis_client.hpp"

namespace vigil::ctl::backup_store {
namespace {

namespace fs = std::filesystem;
namespace bk = ctl::backup;
using namespace backup_io;

void take_backup(const Program& p, const fs::path& dir, std::ostream& out, long timeout) {
    const Owner who = owner_of(p);
    const auto t0 = Clock::now();
    Redis r(p.host, p.port);
    const std::string version = r.info("server")["redis_version"];
    const std::string rdb_dir = r.config_get("dir"), rdb_file = r.config_get("dbfilename");
    const std::string aof_dir = r.config_get("appenddirname"), aof_file = r.config_get("appendfilename");
    if (rdb_dir.empty() || rdb_file.empty()) fail(kFailed, "redis did not say where it saves (CONFIG GET dir)");
    BackupDirGuard guard(dir, prepare_backup_dir(dir));
    // One consistent snapshot: BGSAVE forks and writes a temporary file that
    // is renamed over dbfilename when complete. SCHEDULE waits its turn
    // behind a save or an AOF rewrite already running.
    auto saves_of = [](std::map<std::string, std::string>& info) {
        return info.count("rdb_saves") ? std::stoll(info["rdb_saves"]) : -1LL;
    };
    auto before = r.info("persistence");
    const long long saves_before = saves_of(before);
    const long long lastsave_before = r.ok({"LASTSAVE"}).integer;
    const auto started = r.ok({"BGSAVE", "SCHEDULE"}).str;
    out << say(p) << "BGSAVE (redis " << version << "): " << started << "\n" << std::flush;
    const auto deadline = Clock::now() + std::chrono::seconds(timeout);
    for (;;) {
        auto info = r.info("persistence");
        const bool idle = info["rdb_bgsave_in_progress"] == "0";
        const long long saves = saves_of(info);
        const bool newer = saves_before >= 0 ? saves > saves_before : r.ok({"LASTSAVE"}).integer > lastsave_before;
        if (idle && newer) {
            if (info["rdb_last_bgsave_status"] != "ok")
                fail(kFailed, "redis' BGSAVE failed (rdb_last_bgsave_status:" + info["rdb_last_bgsave_status"] +
                                  "): see its log");
            break;
        }
        if (Clock::now() >= deadline)
            fail(kFailed, "redis' BGSAVE did not finish within " + std::to_string(timeout) + "s");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::int64_t keys = bk::keys_in(r.info("keyspace"));
    const fs::path data = dir / std::string(bk::kDataName);
    fs::create_directory(data);
    ::chmod(data.c_str(), 0700);
    copy_file_durably(fs::path(rdb_dir) / rdb_file, data / rdb_file);
    fsync_path(data);
    std::string output, verified = "not verified: no redis-check-rdb";
    const std::string check = (fs::path(p.redis_bin).parent_path() / "redis-check-rdb").string();
    if (::access(check.c_str(), X_OK) == 0) {
        if (run_tool({check, (data / rdb_file).string()}, Owner{}, &output, std::chrono::seconds(600)) != 0)
            fail(kFailed, "redis-check-rdb does not accept the copy: " + tail_lines(output));
        verified = "verified by redis-check-rdb";
    }
    bk::Manifest m = manifest_of(p, version, "BGSAVE, " + rdb_file);
    m.rdb_file = rdb_file;
    m.aof_dir = aof_dir;
    m.aof_file = aof_file;
    m.keys = keys;
    seal(m, dir, who, t0, guard);
    char line[512];
    std::snprintf(line, sizeof line, "backed up to %s in %.2fs (%lld keys, %s, %s)\n", dir.c_str(), seconds_since(t0),
                  static_cast<long long>(keys), human_bytes(m.bytes).c_str(), verified.c_str());
    out << say(p) << line;
}

void stage_backup(const bk::Manifest& m, const Program& p, const fs::path& dir, const fs::path& stage) {
    const fs::path rdb = dir / std::string(bk::kDataName) / m.rdb_file;
    char magic[5] = {};
    std::ifstream f(rdb, std::ios::binary);
    if (!f || !f.read(magic, 5) || std::string(magic, 5) != "REDIS")
        fail(kFailed, rdb.string() + " is not an RDB file");
    std::string output;
    const std::string check = (fs::path(p.redis_bin).parent_path() / "redis-check-rdb").string();
    if (::access(check.c_str(), X_OK) == 0 &&
        run_tool({check, rdb.string()}, Owner{}, &output, std::chrono::seconds(600)) != 0)
        fail(kFailed, "redis-check-rdb does not accept " + rdb.string() + ": " + tail_lines(output));
    fs::create_directory(stage);
    copy_file_durably(rdb, stage / m.rdb_file);
    // With appendonly yes Redis loads the AOF and ignores the RDB: the RDB
    // becomes the AOF's base too, alone in a fresh manifest, so Redis loads
    // exactly the backup whether AOF is on or off.
    const std::string aof_dir = m.aof_dir.empty() ? "appendonlydir" : m.aof_dir;
    const std::string aof_file = m.aof_file.empty() ? "appendonly.aof" : m.aof_file;
    fs::create_directory(stage / aof_dir);
    copy_file_durably(rdb, stage / aof_dir / bk::aof_base_name(aof_file));
    write_file_durably(stage / aof_dir / (aof_file + ".manifest"), bk::aof_manifest_text(aof_file));
}

}  // namespace

const Store redis_store{take_backup, stage_backup};

}  // namespace vigil::ctl::backup_store
