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
#include "supervisor/control_protocol.hpp"
#include "supervisor/ctl/backup_plan.hpp"
#include "supervisor/ctl/backup_io.hpp"
#include "supervisor/ctl/backup_store.hpp"
#include "supervisor/ctl/commands.hpp"
#include "supervisor/ctl/restore_check.hpp"
#include "supervisor/ctl/wait.hpp"

namespace vigil::ctl {
namespace {

namespace fs = std::filesystem;
namespace bk = ctl::backup;
using json = nlohmann::json;
namespace field = control::field;
using namespace backup_io;
using namespace backup_store;

// ---- the program, as vigild describes it ----------------------------------

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
        const HttpReply r = call("GET", control::route::program(path_segment(name)));
        if (r.status == 404) fail(kUsage, "no such process");
        const json j = json::parse(r.body, nullptr, false);
        if (r.status != 200 || !j.is_object()) fail(kFailed, "vigild answered HTTP " + std::to_string(r.status));
        Program p;
        p.name = j.value(field::name, name);
        p.kind = j.value(field::kind, "");
        p.user = j.value(field::user, "");
        p.address = j.value(field::address, "");
        p.state = j.value(field::state, "");
        p.description = j.value(field::description, "");
        p.health = j.value(field::health, "");
        if (p.kind.empty()) fail(kFailed, "this vigild does not say what kind its programs are (too old?)");
        if (p.kind != "postgres" && p.kind != "redis")
            fail(kUsage, "backup and restore work with kind = postgres or kind = redis; " + p.name + " is kind = " +
                             p.kind);
        const json& s = j[field::store];
        if (!s.is_object()) fail(kFailed, "vigild did not describe " + p.name + "'s data");
        p.data_dir = s.value(field::data_dir, "");
        p.pg_bin_dir = s.value(field::pg_bin_dir, "");
        p.redis_bin = s.value(field::redis_bin, "");
        p.db_user = s.value(field::db_user, "postgres");
        p.db_name = s.value(field::db_name, "postgres");
        if (p.data_dir.empty() || p.data_dir.front() != '/') fail(kFailed, p.name + " has no absolute data_dir");
        if (p.kind == "postgres" && p.pg_bin_dir.empty())  // a hand-written command: the newest server installed
            p.pg_bin_dir = config::newest_pg_bin_dir(config::system_kind_context().pg_bin_dirs());
        if (p.kind == "redis" && p.redis_bin.empty()) p.redis_bin = "/usr/bin/redis-server";
        std::string why;
        auto hp = config::parse_host_port(p.address, why);
        if (!hp) fail(kFailed, p.name + " has no usable address: " + why);
        p.host = hp->host == "0.0.0.0" ? "127.0.0.1" : hp->host == "::" ? "::1" : hp->host;
        p.port = hp->port;
        if (j.contains("replication") && j["replication"].is_object()) {
            const json& rj = j["replication"];
            p.role = rj.value("role", "");
            p.primary = rj.value("primary", "");
            p.pair = rj.value("pair", p.primary);
            p.operation = rj.value("operation", "");
            p.streaming = rj.value("streaming", false);
        }
        return p;
    }

    // The members of the replicated pair `pair`, in vigild's order.
    std::vector<bk::PairMember> members(const std::string& pair) const {
        const HttpReply r = call("GET", control::route::path(control::route::programs));
        const json j = json::parse(r.body, nullptr, false);
        if (r.status != 200 || !j.is_array()) fail(kFailed, "vigild answered HTTP " + std::to_string(r.status));
        std::vector<bk::PairMember> out;
        for (const auto& p : j) {
            if (!p.is_object() || !p.contains("replication") || !p["replication"].is_object()) continue;
            const json& rj = p["replication"];
            if (rj.value("pair", rj.value("primary", "")) != pair) continue;
            out.push_back({p.value(field::name, ""), p.value(field::state, ""), p.value(field::health, ""),
                           rj.value("role", ""), rj.value("streaming", false)});
        }
        return out;
    }

    bool has_healthcheck(const std::string& name) const {
        return call("GET", control::route::program(path_segment(name), control::route::health)).status == 200;
    }

    // start / stop with vigild's own wait; the error message of a failure.
    std::optional<std::string> action(const std::string& name, std::string_view verb, long timeout) const {
        const HttpReply r =
            call("POST", control::route::program(path_segment(name), verb),
                 json{{field::wait, true}, {field::timeout, timeout}}.dump(), std::chrono::seconds(timeout + 30));
        const json j = json::parse(r.body, nullptr, false);
        if (r.status == 200) return std::nullopt;
        if (j.is_object() && j.contains(field::results) && j[field::results].is_array())
            for (const auto& res : j[field::results])
                if (!res.value(field::ok, true)) return res.value(field::message, std::string("failed"));
        if (j.is_object() && j.contains(field::error) && j[field::error].is_string())
            return j[field::error].get<std::string>();
        return "HTTP " + std::to_string(r.status);
    }

    // Until RUNNING and, with a healthcheck, healthy: vigild answers when it
    // is (POST …/wait), or when it cannot be (FATAL). The error, or nullopt.
    std::optional<std::string> wait_up(const std::string& name, long timeout) const {
        const WaitResult w = wait_for(c_, name, control::Goal::healthy, timeout);
        if (w.status == 0) fail(kUnreachable, w.error);
        if (w.ok()) return std::nullopt;
        for (const auto& p : w.processes)
            if (!p.ok) return p.message;
        return w.error.empty() ? "HTTP " + std::to_string(w.status) : w.error;
    }

private:
    const Client& c_;
};

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

// Stops `p`, swaps the staged backup in, starts it, healthy.
void restore_swap(Context& cx, const Program& p, const fs::path& stage, bool health) {
    const std::string data_dir = p.data_dir;
    std::error_code ec;
    std::string error;
    // A role or database already missing before is not the restore's doing.
    const bool missing_before = own_data_missing(cx.client, p.name, error).has_value();
    const auto t_stop = Clock::now();
    if (auto e = cx.api.action(p.name, control::route::stop, cx.timeout)) {
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
            cx.api.action(p.name, control::route::start, cx.timeout);
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
    if (auto e = cx.api.action(p.name, control::route::start, cx.timeout))
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

// The replica's data, of the history before the restore, is moved aside
// (kept, as the primary's is); the kind script then finds no PG_VERSION and
// takes a fresh base backup from the restored primary. A Redis replica
// resynchronises in full from its restarted primary by itself.
void recreate_replica(Context& cx, const Program& r, const Program& primary) {
    const std::string done = primary.name + " is restored; ";
    if (r.kind == "postgres") {
        std::error_code ec;
        if (fs::exists(r.data_dir, ec)) {
            const std::string aside = bk::aside_path(r.data_dir, std::time(nullptr), [](const std::string& x) {
                std::error_code e;
                return fs::exists(fs::symlink_status(x, e));
            });
            fs::rename(r.data_dir, aside, ec);
            if (ec)
                fail(kFailed, done + "cannot move its replica " + r.name + "'s data " + r.data_dir + " aside: " +
                                  ec.message() + "; " + r.name +
                                  " stays stopped: move that directory away, then vigilctl start " + r.name);
            fsync_path(fs::path(r.data_dir).parent_path());
            cx.out << say(r) << "its data, of the history before the restore, is kept in " << aside << "\n";
        }
    }
    const auto t0 = Clock::now();
    if (auto e = cx.api.action(r.name, control::route::start, cx.timeout))
        fail(kFailed, done + "its replica " + r.name + " did not start: " + *e + " (see vigild's log)");
    if (auto e = cx.api.wait_up(r.name, cx.timeout))
        fail(kFailed, done + "its replica " + r.name + " is " + *e + " (see vigild's log)");
    char line[256];
    std::snprintf(line, sizeof line, "re-created from %s%s: RUNNING %.2fs after its start\n", primary.name.c_str(),
                  r.kind == "postgres" ? " by a fresh base backup" : "", seconds_since(t0));
    cx.out << say(r) << line;
}

// A replicated pair's data is backed up once, from whichever member
// `backup_source` picks: backing up the primary or a replica is the same.
void take_backup(Context& cx, const Program& asked, const fs::path& dir) {
    Program p = asked;
    if (!asked.pair.empty()) {
        std::string why;
        const auto members = cx.api.members(asked.pair);
        const bk::PairMember* src = bk::backup_source(members, why);
        if (!src) fail(kFailed, "cannot back up the replicated pair " + asked.pair + ": " + why);
        cx.out << say(asked) << "the replicated pair " << asked.pair << "'s data, read from " << why << "\n"
               << std::flush;
        if (src->name != asked.name) p = cx.api.program(src->name);
    }
    if (p.state != "RUNNING")
        fail(kFailed, "it is " + p.state + " (" + p.description + "): a backup needs the running server");
    store_for(p.kind).backup(p, dir, cx.out, cx.timeout);
}

// Restoring a pair means its primary: a replica follows its primary's
// history and cannot take other data, and after the restore the replicas'
// data is of a history the primary no longer has (the same timeline, so
// pg_rewind would see nothing to undo): they are stopped first (no failover
// to one while the primary is down), and re-created afterwards.
std::vector<Program> pair_replicas(Context& cx, const Program& p) {
    if (p.pair.empty()) return {};
    if (p.role == "replica")
        fail(kFailed, p.name + " is a replica of " + p.primary + " (replicated pair " + p.pair +
                          "): restore into the pair's primary (vigilctl restore " + p.primary +
                          " DIR); its replicas are then re-created from it");
    if (p.role == "fenced")
        fail(kFailed, p.name + " is fenced (the primary of pair " + p.pair +
                          " that failed): make it the primary again first (vigilctl unfence " + p.name + ")");
    if (!p.operation.empty()) fail(kFailed, "the pair " + p.pair + " is busy: " + p.operation);
    std::vector<Program> out;
    for (const auto& m : cx.api.members(p.pair))
        if (m.name != p.name) out.push_back(cx.api.program(m.name));
    return out;
}

void restore(Context& cx, const Program& p, const fs::path& dir) {
    const bk::Manifest m = read_manifest(dir);
    const std::vector<Program> replicas = pair_replicas(cx, p);
    if (auto why = bk::restore_refusal(m, p.kind, p.name, cx.force, p.pair); !why.empty())
        fail(kFailed, dir.string() + ": " + why);
    const Owner who = owner_of(p);
    const bool own = m.program == p.name || (!p.pair.empty() && (m.pair == p.pair || m.program == p.pair));
    cx.out << say(p) << dir.string() << " is a backup of "
           << (m.pair.empty() ? m.program : "the replicated pair " + m.pair + " (read from " + m.source + ")")
           << " taken " << m.time << " (" << p.kind << " " << m.server_version << ", " << human_bytes(m.bytes)
           << (m.kind == "redis" && m.keys >= 0 ? ", " + std::to_string(m.keys) + " keys" : "") << ")"
           << (own ? "" : " — another program's, restoring it into " + p.name + " (--force)") << "\n"
           << std::flush;

    // Everything that can fail without touching the live program happens
    // first: checks, the copy, ownership. Only then the stop.
    const std::string data_dir = p.data_dir;
    const std::string stamp = bk::stamp_utc(std::time(nullptr));
    const fs::path stage = data_dir + ".restoring-" + stamp;
    std::error_code ec;
    fs::remove_all(stage, ec);  // ours: a previous attempt's leftover of the same second
    try {
        store_for(p.kind).stage(m, p, dir, stage);
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
    std::string replicas_note;  // for an error from here on
    for (const auto& r : replicas) {
        if (auto e = cx.api.action(r.name, control::route::stop, cx.timeout)) {
            fs::remove_all(stage, ec);
            fail(kFailed, "cannot stop its replica " + r.name + ": " + *e + "; start it again with vigilctl start " +
                              r.name + "; nothing else was changed");
        }
        cx.out << say(r) << "stopped (re-created from " << p.name << " after the restore)\n" << std::flush;
        replicas_note += (replicas_note.empty() ? "; its replicas, stopped with their data untouched: vigilctl start "
                                                : " ") +
                         r.name;
    }
    try {
        restore_swap(cx, p, stage, health);
    } catch (const Failure& f) {
        throw Failure{f.code, f.message + replicas_note};
    }
    for (const auto& r : replicas) recreate_replica(cx, r, p);
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
            take_backup(cx, p, dir);
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
