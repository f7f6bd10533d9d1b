#include "supervisor/ctl/backup.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "config/kinds.hpp"
#include "config/values.hpp"
#include "supervisor/core/backup_plan.hpp"
#include "supervisor/ctl/backup_io.hpp"
#include "supervisor/ctl/commands.hpp"
#include "supervisor/ctl/redis_client.hpp"
#include "supervisor/ctl/restore_check.hpp"
#include "supervisor/ctl/wait.hpp"

namespace vigil::ctl {
namespace {

namespace fs = std::filesystem;
namespace bk = core::backup;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace backup_io;


double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string human_bytes(std::uint64_t n) {
    char buf[32];
    if (n >= (1ULL << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", n / double(1ULL << 30));
    else if (n >= (1ULL << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", n / double(1ULL << 20));
    else if (n >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
    else std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
    return buf;
}

std::string trimmed(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    std::size_t b = 0;
    while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    return s.substr(b);
}

// The last few lines of a tool's output, for an error message.
std::string tail_lines(const std::string& text, std::size_t n = 4) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (!trimmed(l).empty()) lines.push_back(trimmed(l));
    std::string out;
    for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
        out += (out.empty() ? "" : " | ") + lines[i];
    return out.empty() ? "no output" : out;
}

// ---- the program, as vigild describes it ----------------------------------

struct Program {
    std::string name, kind, user, address, state, description, health;
    std::string data_dir, pg_bin_dir, redis_bin, db_user, db_name;
    std::string host;  // for TCP clients: loopback when it listens on every address
    std::uint16_t port = 0;
};


Owner owner_of(const Program& p) {
    Owner o;
    if (p.user.empty() || ::geteuid() != 0) return o;
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
    passwd pw{};
    passwd* found = nullptr;
    const bool numeric = std::all_of(p.user.begin(), p.user.end(), [](char c) { return c >= '0' && c <= '9'; });
    const int rc = numeric ? ::getpwuid_r(static_cast<uid_t>(std::stoul(p.user)), &pw, buf.data(), buf.size(), &found)
                           : ::getpwnam_r(p.user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || !found) fail(kFailed, "no such user '" + p.user + "' (the program's user)");
    o.uid = found->pw_uid;
    o.gid = found->pw_gid;
    o.name = found->pw_name;
    o.switch_user = o.uid != 0;
    return o;
}

class Api {
public:
    Api(const Client& c) : c_(c) {}

    HttpReply call(const std::string& method, const std::string& target, const std::string& body = "",
                   std::chrono::seconds timeout = std::chrono::seconds(120)) const {
        std::string error;
        auto r = c_.call(method, target, body, error, timeout);
        if (!r) fail(kUnreachable, error);
        return *r;
    }

    Program program(const std::string& name) const {
        const HttpReply r = call("GET", "/v1/programs/" + path_segment(name));
        if (r.status == 404) fail(kUsage, "no such process");
        const json j = json::parse(r.body, nullptr, false);
        if (r.status != 200 || !j.is_object()) fail(kFailed, "vigild answered HTTP " + std::to_string(r.status));
        Program p;
        p.name = j.value("name", name);
        p.kind = j.value("kind", "");
        p.user = j.value("user", "");
        p.address = j.value("address", "");
        p.state = j.value("state", "");
        p.description = j.value("description", "");
        p.health = j.value("health", "");
        if (p.kind.empty()) fail(kFailed, "this vigild does not say what kind its programs are (too old?)");
        if (p.kind != "postgres" && p.kind != "redis")
            fail(kUsage, "backup and restore work with kind = postgres or kind = redis; " + p.name + " is kind = " +
                             p.kind);
        const json& s = j["store"];
        if (!s.is_object()) fail(kFailed, "vigild did not describe " + p.name + "'s data");
        p.data_dir = s.value("data_dir", "");
        p.pg_bin_dir = s.value("pg_bin_dir", "");
        p.redis_bin = s.value("redis_bin", "");
        p.db_user = s.value("db_user", "postgres");
        p.db_name = s.value("db_name", "postgres");
        if (p.data_dir.empty() || p.data_dir.front() != '/') fail(kFailed, p.name + " has no absolute data_dir");
        if (p.kind == "postgres" && p.pg_bin_dir.empty())  // a hand-written command: the newest server installed
            p.pg_bin_dir = config::newest_pg_bin_dir(config::system_kind_context().pg_bin_dirs());
        if (p.kind == "redis" && p.redis_bin.empty()) p.redis_bin = "/usr/bin/redis-server";
        std::string why;
        auto hp = config::parse_host_port(p.address, why);
        if (!hp) fail(kFailed, p.name + " has no usable address: " + why);
        p.host = hp->host == "0.0.0.0" ? "127.0.0.1" : hp->host == "::" ? "::1" : hp->host;
        p.port = hp->port;
        return p;
    }

    bool has_healthcheck(const std::string& name) const {
        return call("GET", "/v1/programs/" + path_segment(name) + "/health").status == 200;
    }

    // start / stop with vigild's own wait; the error message of a failure.
    std::optional<std::string> action(const std::string& name, const std::string& verb, long timeout) const {
        const HttpReply r = call("POST", "/v1/programs/" + path_segment(name) + "/" + verb,
                                 json{{"wait", true}, {"timeout", timeout}}.dump(), std::chrono::seconds(timeout + 30));
        const json j = json::parse(r.body, nullptr, false);
        if (r.status == 200) return std::nullopt;
        if (j.is_object() && j.contains("results") && j["results"].is_array())
            for (const auto& res : j["results"])
                if (!res.value("ok", true)) return res.value("message", std::string("failed"));
        if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
        return "HTTP " + std::to_string(r.status);
    }

    // Until RUNNING and, with a healthcheck, healthy: vigild answers when it
    // is (POST …/wait), or when it cannot be (FATAL). The error, or nullopt.
    std::optional<std::string> wait_up(const std::string& name, long timeout) const {
        const WaitResult w = wait_for(c_, name, "healthy", timeout);
        if (w.status == 0) fail(kUnreachable, w.error);
        if (w.ok()) return std::nullopt;
        for (const auto& p : w.processes)
            if (!p.ok) return p.message;
        return w.error.empty() ? "HTTP " + std::to_string(w.status) : w.error;
    }

private:
    const Client& c_;
};


// Empties DIR again (removes it, when it was made here) if the backup fails
// after DIR was taken: never a half backup left behind, never a byte
// removed that was there before.
class BackupDirGuard {
public:
    BackupDirGuard(fs::path dir, bool made) : dir_(std::move(dir)), made_(made) {}
    ~BackupDirGuard() {
        if (done_) return;
        std::error_code ec;
        if (made_) {
            fs::remove_all(dir_, ec);
        } else {
            for (const auto& e : fs::directory_iterator(dir_, ec)) fs::remove_all(e.path(), ec);
        }
    }
    void done() { done_ = true; }

private:
    fs::path dir_;
    bool made_;
    bool done_ = false;
};

// DIR for a new backup: created 0700, or an existing empty directory.
// Returns whether it was created here.
bool prepare_backup_dir(const fs::path& dir) {
    std::error_code ec;
    if (fs::exists(dir, ec)) {
        if (!fs::is_directory(dir, ec)) fail(kFailed, dir.string() + " exists and is not a directory");
        if (!fs::is_empty(dir, ec)) fail(kFailed, dir.string() + " is not empty: a backup goes into a new or empty directory");
        ::chmod(dir.c_str(), 0700);  // a backup holds every row / key
        return false;
    }
    if (!fs::create_directories(dir, ec) && ec) fail(kFailed, "cannot create " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
    return true;
}

bk::Manifest read_manifest(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) fail(kFailed, dir.string() + " is not a directory");
    const fs::path mf = dir / std::string(bk::kManifestName);
    std::ifstream f(mf);
    if (!f) fail(kFailed, dir.string() + " is not a vigil backup (no " + std::string(bk::kManifestName) + ")");
    std::stringstream text;
    text << f.rdbuf();
    std::string error;
    auto m = bk::parse_manifest(text.str(), error);
    if (!m) fail(kFailed, mf.string() + ": " + error);
    if (!fs::is_directory(dir / std::string(bk::kDataName), ec))
        fail(kFailed, dir.string() + " has no " + std::string(bk::kDataName) + "/ directory");
    return *m;
}


// ---- the verbs ---------------------------------------------------------------

struct Context {
    const Client& client;
    Api api;
    std::ostream& out;
    long timeout;
    bool force;  // restore: a backup of another program too
};

std::string say(const Program& p) { return p.name + ": "; }

void backup_postgres(Context& cx, const Program& p, const fs::path& dir) {
    const Owner who = owner_of(p);
    const auto t0 = Clock::now();
    BackupDirGuard guard(dir, prepare_backup_dir(dir));
    if (who.switch_user && ::chown(dir.c_str(), who.uid, who.gid) != 0)
        fail(kFailed, "chown " + dir.string() + ": " + std::strerror(errno));
    // The kind puts the server's Unix socket in data_dir (local trust in
    // initdb's pg_hba.conf); a hand-written command may not: then TCP.
    const std::string socket = p.data_dir + "/.s.PGSQL." + std::to_string(p.port);
    std::error_code ec;
    const std::string host = fs::exists(socket, ec) ? p.data_dir : p.host;
    const std::string port = std::to_string(p.port);
    std::string output;
    if (run_tool({p.pg_bin_dir + "/psql", "-X", "-A", "-t", "-q", "-w", "-h", host, "-p", port, "-U", p.db_user, "-d",
                  p.db_name, "-c", "SHOW server_version"},
                 who, &output, std::chrono::seconds(30)) != 0)
        fail(kFailed, "cannot query the server: " + tail_lines(output));
    const std::string version = trimmed(output);
    const fs::path data = dir / std::string(bk::kDataName);
    cx.out << say(p) << "pg_basebackup -X stream from " << host << " port " << port << " (PostgreSQL " << version
           << ")\n"
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
    bk::Manifest m;
    m.program = p.name;
    m.kind = "postgres";
    m.time = bk::iso_utc(std::time(nullptr));
    m.server_version = version;
    m.method = "pg_basebackup -F p -X stream -c fast";
    m.db_user = p.db_user;
    m.db_name = p.db_name;
    m.bytes = size_of_tree(data);
    m.duration_ms = static_cast<std::int64_t>(seconds_since(t0) * 1000);
    write_file_durably(dir / std::string(bk::kManifestName), bk::to_json(m));
    chown_tree(dir, who);
    guard.done();
    char line[512];
    std::snprintf(line, sizeof line, "backed up to %s in %.2fs (%s, %s)\n", dir.c_str(), seconds_since(t0),
                  human_bytes(m.bytes).c_str(), verified.c_str());
    cx.out << say(p) << line;
}

void backup_redis(Context& cx, const Program& p, const fs::path& dir) {
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
    cx.out << say(p) << "BGSAVE (redis " << version << "): " << started << "\n" << std::flush;
    const auto deadline = Clock::now() + std::chrono::seconds(cx.timeout);
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
            fail(kFailed, "redis' BGSAVE did not finish within " + std::to_string(cx.timeout) + "s");
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
    bk::Manifest m;
    m.program = p.name;
    m.kind = "redis";
    m.time = bk::iso_utc(std::time(nullptr));
    m.server_version = version;
    m.method = "BGSAVE, " + rdb_file;
    m.rdb_file = rdb_file;
    m.aof_dir = aof_dir;
    m.aof_file = aof_file;
    m.keys = keys;
    m.bytes = size_of_tree(data);
    m.duration_ms = static_cast<std::int64_t>(seconds_since(t0) * 1000);
    write_file_durably(dir / std::string(bk::kManifestName), bk::to_json(m));
    chown_tree(dir, who);
    guard.done();
    char line[512];
    std::snprintf(line, sizeof line, "backed up to %s in %.2fs (%lld keys, %s, %s)\n", dir.c_str(), seconds_since(t0),
                  static_cast<long long>(keys), human_bytes(m.bytes).c_str(), verified.c_str());
    cx.out << say(p) << line;
}

// Checks DIR as a backup for `p` and builds what goes into data_dir at
// `stage` (a sibling of data_dir, so the final step is a rename).
void stage_postgres(const Program& p, const fs::path& dir, const fs::path& stage) {
    const fs::path data = dir / std::string(bk::kDataName);
    std::ifstream v(data / "PG_VERSION");
    std::string pg_version;
    if (!v || !std::getline(v, pg_version)) fail(kFailed, dir.string() + " holds no PostgreSQL data (no data/PG_VERSION)");
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
}

void stage_redis(const bk::Manifest& m, const Program& p, const fs::path& dir, const fs::path& stage) {
    const fs::path rdb = dir / std::string(bk::kDataName) / m.rdb_file;
    char magic[5] = {};
    std::ifstream f(rdb, std::ios::binary);
    if (!f || !f.read(magic, 5) || std::string(magic, 5) != "REDIS")
        fail(kFailed, rdb.string() + " is not an RDB file");
    std::string output;
    const std::string check = (fs::path(p.redis_bin).parent_path() / "redis-check-rdb").string();
    if (::access(check.c_str(), X_OK) == 0 && run_tool({check, rdb.string()}, Owner{}, &output, std::chrono::seconds(600)) != 0)
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

void restore(Context& cx, const Program& p, const fs::path& dir) {
    const bk::Manifest m = read_manifest(dir);
    if (auto why = bk::restore_refusal(m, p.kind, p.name, cx.force); !why.empty())
        fail(kFailed, dir.string() + ": " + why);
    const Owner who = owner_of(p);
    cx.out << say(p) << dir.string() << " is a backup of " << m.program << " taken " << m.time << " (" << p.kind << " "
           << m.server_version << ", " << human_bytes(m.bytes)
           << (m.kind == "redis" && m.keys >= 0 ? ", " + std::to_string(m.keys) + " keys" : "") << ")"
           << (m.program != p.name ? " — another program's, restoring it into " + p.name + " (--force)" : "") << "\n"
           << std::flush;

    // Everything that can fail without touching the live program happens
    // first: checks, the copy, ownership. Only then the stop.
    const std::string data_dir = p.data_dir;
    const std::string stamp = bk::stamp_utc(std::time(nullptr));
    const fs::path stage = data_dir + ".restoring-" + stamp;
    std::error_code ec;
    fs::remove_all(stage, ec);  // ours: a previous attempt's leftover of the same second
    try {
        if (p.kind == "postgres") stage_postgres(p, dir, stage);
        else stage_redis(m, p, dir, stage);
        chown_tree(stage, who);
        ::chmod(stage.c_str(), 0700);
        // Durable before the old data is moved away: syncfs() of the
        // filesystem both live on (one call, not one fsync per file).
        if (const int fd = ::open(stage.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
            ::syncfs(fd);
            ::close(fd);
        }
    } catch (...) {
        fs::remove_all(stage, ec);
        throw;
    }
    const bool health = cx.api.has_healthcheck(p.name);
    std::string error;
    // A role or database already missing before is not the restore's doing.
    const bool missing_before = own_data_missing(cx.client, p.name, error).has_value();
    const auto t_stop = Clock::now();
    if (auto e = cx.api.action(p.name, "stop", cx.timeout)) {
        fs::remove_all(stage, ec);
        fail(kFailed, "cannot stop it: " + *e + "; nothing was changed");
    }
    cx.out << say(p) << "stopped\n" << std::flush;
    const std::string aside = bk::aside_path(data_dir, std::time(nullptr), [](const std::string& x) {
        std::error_code e;
        return fs::exists(fs::symlink_status(x, e));
    });
    const bool had_data = fs::exists(data_dir, ec);
    if (had_data) {
        fs::rename(data_dir, aside, ec);
        if (ec) {
            fs::remove_all(stage, ec);
            cx.api.action(p.name, "start", cx.timeout);
            fail(kFailed, "cannot move " + data_dir + " aside: " + ec.message() + "; started it again unchanged");
        }
        cx.out << say(p) << "the current data is kept in " << aside << "\n";
    }
    fs::rename(stage, data_dir, ec);
    if (ec) {
        std::error_code ignore;
        if (had_data) fs::rename(aside, data_dir, ignore);
        fail(kFailed, "cannot put the backup in place: " + ec.message() + "; the old data is back in " + data_dir +
                          ", start it with vigilctl start " + p.name);
    }
    fsync_path(fs::path(data_dir).parent_path());
    const std::string back = had_data ? "; to go back: vigilctl stop " + p.name + " && mv " + data_dir + " " +
                                            data_dir + ".failed && mv " + aside + " " + data_dir + " && vigilctl start " +
                                            p.name
                                      : "";
    if (auto e = cx.api.action(p.name, "start", cx.timeout))
        fail(kFailed, "the restored data is in place but it did not start: " + *e + back);
    if (auto e = cx.api.wait_up(p.name, cx.timeout))
        fail(kFailed, "the restored data is in place but it is " + *e + back);
    if (auto why = own_data_missing(cx.client, p.name, error); why && !missing_before)
        fail(kFailed, "the restored data is in place and the server answers, but not with " + p.name +
                          "'s own role and database: " + *why + back);
    char line[256];
    std::snprintf(line, sizeof line, "restored: RUNNING%s %.2fs after the stop\n", health ? " and healthy" : "",
                  seconds_since(t_stop));
    cx.out << say(p) << line;
}

}  // namespace

int backup_restore(const Client& client, const std::string& verb, const std::vector<std::string>& args,
                   std::ostream& out, std::ostream& err) {
    std::vector<std::string> words;
    long timeout = 300;
    bool force = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string value;
        if (args[i] == "--force" && verb == "restore") {
            force = true;
            continue;
        }
        if (args[i] == "--timeout" && i + 1 < args.size()) value = args[++i];
        else if (args[i].rfind("--timeout=", 0) == 0) value = args[i].substr(10);
        else if (args[i].size() > 1 && args[i][0] == '-') {
            err << "vigilctl: " << verb << ": unknown option " << args[i] << "\n";
            return kUsage;
        } else {
            words.push_back(args[i]);
            continue;
        }
        try {
            timeout = std::stol(value);
        } catch (const std::exception&) {
            timeout = 0;
        }
        if (timeout <= 0 || timeout > 86400) {
            err << "vigilctl: --timeout takes seconds (1..86400)\n";
            return kUsage;
        }
    }
    if (words.size() != 2) {
        err << "vigilctl: usage: " << verb << " NAME DIR [--timeout S]" << (verb == "restore" ? " [--force]" : "") << "\n";
        return kUsage;
    }
    const std::string& name = words[0];
    const fs::path dir = fs::absolute(words[1]).lexically_normal();
    Context cx{client, Api(client), out, timeout, force};
    try {
        const Program p = cx.api.program(name);
        if (verb == "backup") {
            if (p.state != "RUNNING")
                fail(kFailed, "it is " + p.state + " (" + p.description + "): a backup needs the running server");
            if (p.kind == "postgres") backup_postgres(cx, p, dir);
            else backup_redis(cx, p, dir);
        } else {
            restore(cx, p, dir);
        }
        return kOk;
    } catch (const Failure& f) {
        if (f.code == kUnreachable) err << "vigilctl: " << f.message << "\n";
        else err << name << ": ERROR (" << f.message << ")\n";
        return f.code;
    } catch (const std::exception& e) {
        err << name << ": ERROR (" << e.what() << ")\n";
        return kFailed;
    }
}

}  // namespace vigil::ctl
