// kind = postgres: a backup is pg_basebackup's plain output (with its WAL,
// checked by pg_verifybackup when installed), taken over the server's Unix
// socket in data_dir (or TCP) — from a primary or, for a replicated pair,
// usually its replica; a restore needs the same major version.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>

#include "supervisor/ctl/backup_store.hpp"
#include "supervisor/ctl/commands.hpp"

namespace vigil::ctl::backup_store {
namespace {

namespace fs = std::filesystem;
namespace bk = ctl::backup;
using namespace backup_io;

void take_backup(const Program& p, const fs::path& dir, std::ostream& out, long) {
    const Owner who = owner_of(p);
    const auto t0 = Clock::now();
    BackupDirGuard guard(dir, prepare_backup_dir(dir));
    if (who.switch_user && ::chown(dir.c_str(), who.uid, who.gid) != 0)
        fail(kFailed, "chown " + dir.string() + ": " + std::strerror(errno));
    // The kind puts the server's Unix socket in DATA.sock, or in data_dir
    // where that cannot be made (local trust in initdb's pg_hba.conf); a
    // hand-written command may do neither: then TCP.
    std::string host = p.host;
    std::string data_dir = p.data_dir;
    while (data_dir.size() > 1 && data_dir.back() == '/') data_dir.pop_back();
    for (const std::string& sockets : {data_dir + ".sock", data_dir}) {
        std::error_code ec;
        if (fs::exists(sockets + "/.s.PGSQL." + std::to_string(p.port), ec)) {
            host = sockets;
            break;
        }
    }
    const std::string port = std::to_string(p.port);
    std::string output;
    if (run_tool({p.pg_bin_dir + "/psql", "-X", "-A", "-t", "-q", "-w", "-h", host, "-p", port, "-U", p.db_user, "-d",
                  p.db_name, "-c", "SHOW server_version"},
                 who, &output, std::chrono::seconds(30)) != 0)
        fail(kFailed, "cannot query the server: " + tail_lines(output));
    const std::string version = trimmed(output);
    const fs::path data = dir / std::string(bk::kDataName);
    out << say(p) << "pg_basebackup -X stream from " << host << " port " << port << " (PostgreSQL " << version << ")\n"
        << std::flush;
    if (run_tool({p.pg_bin_dir + "/pg_basebackup", "-h", host, "-p", port, "-U", p.db_user, "-w", "-D", data.string(),
                  "-F", "p", "-X", "stream", "-c", "fast", "-l", "vigil backup of " + p.name},
                 who, &output) != 0) {
        std::string hint;
        if (output.find("Permission denied") != std::string::npos && who.switch_user)
            hint = " (the user " + who.name + " must be able to reach and write " + dir.string() + ")";
        if (output.find("no pg_hba.conf entry for replication") != std::string::npos)
            hint = " (pg_hba.conf must allow replication connections from " + host + " for " + p.db_user + ")";
        fail(kFailed, "pg_basebackup failed: " + tail_lines(output) + hint);
    }
    std::string verified = "not verified: no pg_verifybackup";
    if (::access((p.pg_bin_dir + "/pg_verifybackup").c_str(), X_OK) == 0) {
        if (run_tool({p.pg_bin_dir + "/pg_verifybackup", data.string()}, who, &output) != 0)
            fail(kFailed, "pg_verifybackup does not accept the backup: " + tail_lines(output));
        verified = "verified by pg_verifybackup";
    }
    bk::Manifest m = manifest_of(p, version, "pg_basebackup -F p -X stream -c fast");
    m.db_user = p.db_user;
    m.db_name = p.db_name;
    seal(m, dir, who, t0, guard);
    char line[512];
    std::snprintf(line, sizeof line, "backed up to %s in %.2fs (%s, %s)\n", dir.c_str(), seconds_since(t0),
                  human_bytes(m.bytes).c_str(), verified.c_str());
    out << say(p) << line;
}

void stage_backup(const bk::Manifest&, const Program& p, const fs::path& dir, const fs::path& stage) {
    const fs::path data = dir / std::string(bk::kDataName);
    std::ifstream v(data / "PG_VERSION");
    std::string pg_version;
    if (!v || !std::getline(v, pg_version))
        fail(kFailed, dir.string() + " holds no PostgreSQL data (no data/PG_VERSION)");
    std::string output;
    run_tool({p.pg_bin_dir + "/postgres", "--version"}, Owner{}, &output, std::chrono::seconds(30));
    const std::string have = bk::pg_major(output), want = bk::pg_major(pg_version);
    if (have != want)
        fail(kFailed, "the backup is of PostgreSQL " + want + " but " + p.name + " runs " + p.pg_bin_dir +
                          " (PostgreSQL " + (have.empty() ? "?" : have) + ")");
    if (::access((p.pg_bin_dir + "/pg_verifybackup").c_str(), X_OK) == 0 &&
        run_tool({p.pg_bin_dir + "/pg_verifybackup", data.string()}, Owner{}, &output) != 0)
        fail(kFailed, "pg_verifybackup does not accept " + data.string() + ": " + tail_lines(output));
    fs::copy(data, stage, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    // A backup read from a replica holds its standby.signal: restored as is,
    // the server would start as a standby of nobody instead of a primary.
    // (A restore never goes into a replica: backup.cpp refuses that.)
    std::error_code ec;
    for (const char* signal : {"standby.signal", "recovery.signal"}) fs::remove(stage / signal, ec);
}

}  // namespace

const Store postgres_store{take_backup, stage_backup};

}  // namespace vigil::ctl::backup_store
