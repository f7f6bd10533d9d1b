// [program:NAME] → one Program per process (numprocs), every value expanded
// with that process's %(process_num)d and checked.
#include <algorithm>
#include <map>

#include "config/build.hpp"
#include "config/command_line.hpp"
#include "config/host_checks.hpp"
#include "config/kinds.hpp"
#include "config/socket_url.hpp"
#include "config/units.hpp"
#include "config/values.hpp"

namespace vigil::config::detail {
namespace {

// Far more than one machine runs, and small enough that a crafted config
// (or fuzzer input) cannot make the loader build millions of programs.
constexpr int kMaxNumprocs = 1000;
constexpr std::size_t kMaxProcesses = 10000;

constexpr std::string_view kProgramKeys[] = {
    "command", "directory", "user", "group", "environment", "umask", "autostart", "autorestart", "startsecs",
    "startretries", "exitcodes", "stopsignal", "stopwaitsecs", "stopasgroup", "killasgroup", "numprocs",
    "numprocs_start", "process_name", "priority", "stdout_logfile", "stderr_logfile",
    "stdout_logfile_maxbytes", "stdout_logfile_backups", "stderr_logfile_maxbytes", "stderr_logfile_backups",
    "redirect_stderr", "kind", "backoff", "backoff_reset", "healthcheck", "health_interval", "health_timeout",
    "health_retries", "health_start_period", "health_rise", "health_start_interval", "health_expect_status",
    "health_expect_body", "startup_check", "on_unhealthy", "depends_on", "memory_limit", "cpu_limit",
    "pids_limit", "address", "data_dir", "pg_bin_dir", "redis_bin", "db_user", "db_name", "notify", "watchdog",
    "sockets", "socket_owner", "socket_mode", "socket_backlog",
    "image", "replica_of", "failover_after",
    // supervisord's, honoured:
    "stdout_syslog", "stderr_syslog",
    // supervisord's, for event listeners (docs/event-listeners.md):
    "stdout_events_enabled", "stderr_events_enabled", "stdout_capture_maxbytes", "stderr_capture_maxbytes",
    // supervisord's: the program's SUPERVISOR_SERVER_URL
    "serverurl",
};

// [fcgi-program:x] is a program whose one socket (`socket =`) is its fd 0.
const std::vector<std::string_view>& fcgi_program_keys() {
    static const std::vector<std::string_view> keys = [] {
        std::vector<std::string_view> k(std::begin(kProgramKeys), std::end(kProgramKeys));
        k.push_back("socket");
        return k;
    }();
    return keys;
}

constexpr std::string_view kHealthKeys[] = {
    "health_interval",       "health_timeout",       "health_retries",     "health_start_period", "health_rise",
    "health_start_interval", "health_expect_status", "health_expect_body", "startup_check",       "on_unhealthy"};

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
           });
}

class ProgramBuilder {
public:
    ProgramBuilder(const RawSection& s, const Keys& keys, ExpandVars& vars, const Daemon& daemon,
                   const Program& defaults, Errors& errors)
        : s_(s), v_(s, keys, vars, errors), daemon_(daemon), defaults_(defaults) {}

    Values& values() { return v_; }

    Program build(const std::string& group, int process_num, int numprocs, const std::string& process_name_raw) {
        Program p = defaults_;
        p.program = s_.name;
        p.group = group;
        p.process_num = process_num;
        p.numprocs = numprocs;
        p.loc = s_.loc;

        const ini::Entry* pn = v_.entry("process_name");
        auto name = pn ? v_.expand_text(*pn, process_name_raw) : expand(process_name_raw, v_.vars(), ignored_);
        if (name && !valid_name(*name)) {
            if (pn) v_.error(*pn, "'" + *name + "' is not a valid process name (" + std::string(kValidNameHint) + ")");
            name.reset();
        }
        // A stand-in no real name can collide with (':' is not allowed), so a
        // bad process_name does not also cause "duplicate process name" errors;
        // the config is refused anyway.
        p.name = name ? *name : s_.name + ":" + std::to_string(process_num);

        kind(p);
        command(p);
        v_.string("directory", p.directory);
        v_.string("user", p.user);
        v_.string("group", p.os_group);
        v_.parsed("umask", p.umask, [](const std::string& t, std::string& why) { return parse_umask(t, why); });
        environment(p);
        v_.boolean("autostart", p.autostart);
        v_.parsed("autorestart", p.autorestart, parse_autorestart);
        v_.parsed("exitcodes", p.exitcodes, parse_exitcodes);
        v_.duration("startsecs", p.startsecs, Duration{0});
        startretries(p);
        v_.parsed("backoff", p.backoff, [](const std::string& t, std::string& why) { return parse_backoff(t, why); });
        v_.duration("backoff_reset", p.backoff_reset, Duration{0});
        v_.parsed("stopsignal", p.stopsignal, [](const std::string& t, std::string& why) {
            auto sig = parse_signal(t);
            if (!sig) why = "expected a signal such as TERM, SIGINT, QUIT, KILL, HUP, USR1 or a number, got '" + t + "'";
            return sig;
        });
        v_.duration("stopwaitsecs", p.stopwaitsecs, Duration{0});
        v_.boolean("stopasgroup", p.stopasgroup);
        p.killasgroup = p.stopasgroup;  // supervisord: killasgroup defaults to stopasgroup
        v_.boolean("killasgroup", p.killasgroup);
        v_.boolean("notify", p.notify);
        image(p);
        v_.parsed("watchdog", p.watchdog, [](const std::string& t, std::string& why) -> std::optional<Duration> {
            auto d = parse_duration(t);
            if (!d || d->count() < 100) why = "expected a duration of at least 100ms such as 10s, got '" + t + "'";
            return d && d->count() >= 100 ? d : std::nullopt;
        });
        v_.integer("priority", p.priority, -999999, 999999);
        logs(p);
        v_.boolean("stdout_events_enabled", p.stdout_events_enabled);
        v_.boolean("stderr_events_enabled", p.stderr_events_enabled);
        v_.size("stdout_capture_maxbytes", p.stdout_capture_maxbytes, 0);
        v_.size("stderr_capture_maxbytes", p.stderr_capture_maxbytes, 0);
        serverurl(p);
        health(p);
        depends_on(p);
        v_.parsed("memory_limit", p.limits.memory_bytes, [](const std::string& t, std::string& why) {
            auto n = parse_size(t);
            if (!n || *n < (1u << 20))
                why = "expected a size of at least 1M such as 512M or 2G (a bare number is bytes), got '" + t + "'";
            return n && *n >= (1u << 20) ? n : std::nullopt;
        });
        v_.parsed("cpu_limit", p.limits.cpu_cores,
                  [](const std::string& t, std::string& why) { return parse_positive_double(t, why); });
        v_.parsed("pids_limit", p.limits.pids, [](const std::string& t, std::string& why) -> std::optional<std::uint32_t> {
            auto n = parse_int(t, 1, 4194304, why);
            if (!n) return std::nullopt;
            return static_cast<std::uint32_t>(*n);
        });
        if (const ini::Entry* e = v_.entry("address")) {
            if (auto t = v_.text(*e)) {
                std::string why;
                if (parse_host_port(*t, why)) p.address = std::string(trim(*t));
                else v_.error(*e, why);
            }
        }
        sockets(p);
        kind_defaults(p);
        replication(p);
        return p;
    }

private:
    // replica_of names a program; link() checks it (kind, cycles, chains).
    void replication(Program& p) {
        const bool data_store = p.kind == "postgres" || p.kind == "redis";
        for (const char* key : {"replica_of", "failover_after"})
            if (const ini::Entry* e = v_.entry(key); e && !data_store)
                v_.error(*e, "only applies to kind = postgres or kind = redis");
        if (!data_store) return;
        if (const ini::Entry* e = v_.entry("replica_of")) {
            if (auto t = v_.text(*e)) {
                p.replica_of = std::string(trim(*t));
                p.replica_of_loc = v_.loc(*e);
                if (p.replica_of.empty() || p.replica_of.find_first_of(" \t,:") != std::string::npos) {
                    v_.error(*e, "expected the name of one program, got '" + p.replica_of + "'");
                    p.replica_of.clear();
                }
            }
        }
        v_.parsed("failover_after", p.failover_after, [](const std::string& t, std::string& why) -> std::optional<Duration> {
            auto d = parse_duration(t);
            if (!d || d->count() < 1000) why = "expected a duration of at least 1s such as 10s, got '" + t + "'";
            return d && d->count() >= 1000 ? d : std::nullopt;
        });
    }

    // kind = postgres | redis: the kind keys, then the kind's defaults for
    // every key not written (config/kinds.hpp).
    void kind_defaults(Program& p) {
        for (auto key : kKindKeys) {
            std::string* out = key == "data_dir"     ? &p.data_dir
                               : key == "pg_bin_dir" ? &p.pg_bin_dir
                               : key == "redis_bin"  ? &p.redis_bin
                               : key == "db_user"    ? &p.db_user
                                                     : &p.db_name;
            if (auto t = v_.text(key)) *out = std::string(trim(*t));
        }
        ExplicitKeys written;
        for (auto key : kProgramKeys)
            if (v_.has(key)) written.emplace(key);
        static const KindContext context = system_kind_context();
        for (const auto& err : apply_kind(p, written, context)) {
            const ini::Entry* at = v_.entry(err.key);
            if (!at) at = v_.entry("kind");
            if (at) v_.error(*at, err.message);
            else v_.section_error(err.key + ": " + err.message);
        }
    }

    void sockets(Program& p) {
        const bool fcgi = s_.type == "fcgi-program";
        const ini::Entry* e = v_.entry(fcgi ? "socket" : "sockets");
        if (fcgi && v_.has("sockets")) v_.error(*v_.entry("sockets"), "[fcgi-program:x] takes one socket = URL");
        if (!e) {
            if (fcgi) v_.missing("[fcgi-program:" + s_.name + "] needs socket = tcp://HOST:PORT or unix:///PATH");
            return;
        }
        auto t = v_.text(*e);
        if (!t) return;
        const auto urls = split_list(*t);
        if (fcgi && urls.size() != 1) {
            v_.error(*e, "expected one tcp://HOST:PORT or unix:///PATH, got '" + *t + "'");
            return;
        }
        for (const auto& u : urls) {
            std::string why;
            auto url = parse_socket_url(u, why);
            if (!url) {
                v_.error(*e, why);
                continue;
            }
            const std::string text = url->text();
            if (std::find(p.sockets.begin(), p.sockets.end(), text) != p.sockets.end())
                v_.error(*e, "'" + text + "' is listed twice");
            else p.sockets.push_back(text);
        }
        p.socket_on_stdin = fcgi;
        v_.string("socket_owner", p.socket_owner);
        v_.parsed("socket_mode", p.socket_mode, [](const std::string& m, std::string& why) {
            auto mode = parse_umask(m, why);
            if (!mode) why = "expected an octal mode such as 0660, got '" + m + "'";
            return mode;
        });
        v_.integer("socket_backlog", p.socket_backlog, 1, 65535);
    }

    void kind(Program& p) {
        const ini::Entry* e = v_.entry("kind");
        if (!e) return;
        auto t = v_.text(*e);
        if (!t) return;
        std::string k(trim(*t));
        if (k == "process" || k == "postgres" || k == "redis" || k == "proxy") p.kind = k;
        else v_.error(*e, "expected process, postgres, redis or proxy, got '" + *t + "'");
    }

    // Only `vigilctl export kubernetes` reads it; checked here so a typo
    // shows at load time rather than as a pull error in a cluster.
    void image(Program& p) {
        const ini::Entry* e = v_.entry("image");
        if (!e) return;
        auto t = v_.text(*e);
        if (!t) return;
        p.image = std::string(trim(*t));
        if (p.image.empty()) v_.error(*e, "must not be empty (a container image such as registry.example/app:1.2)");
        else if (p.image.find_first_of(" \t\"'") != std::string::npos)
            v_.error(*e, "an image reference has no blanks or quotes, got '" + p.image + "'");
    }

    void command(Program& p) {
        const ini::Entry* e = v_.entry("command");
        // vigild knows how to run vigil-proxy, postgres and redis; a plain process needs a command.
        if (!e) {
            if (p.kind == "process") v_.missing("[program:" + s_.name + "] needs command = ...");
            return;
        }
        auto t = v_.text(*e);
        if (!t) return;
        p.command = std::string(trim(*t));
        if (p.command.empty()) {
            if (p.kind == "process") v_.error(*e, "must not be empty");
            return;
        }
        // Split here only to refuse what the spawner could not split later.
        if (auto split = split_command(p.command); !split.error.empty()) v_.error(*e, split.error);
    }

    // [supervisord]'s environment, then the program's, which wins.
    void environment(Program& p) {
        for (const auto& [key, value] : daemon_.environment) p.environment.emplace_back(key, value);
        for (auto& kv : v_.environment("environment")) {
            std::erase_if(p.environment, [&](const auto& have) { return have.first == kv.first; });
            p.environment.emplace_back(kv.first, std::move(kv.second));
        }
    }

    // What the program gets as SUPERVISOR_SERVER_URL to call back over
    // XML-RPC; AUTO (any case, as supervisord) leaves it to vigild
    // (children_server_url). Not checked, as in supervisord: it is only
    // handed to the program.
    void serverurl(Program& p) {
        v_.string("serverurl", p.serverurl);
        if (iequals(trim(p.serverurl), "AUTO")) p.serverurl.clear();
    }

    void logs(Program& p) {
        // Before the files: `*_logfile = syslog` turns syslog on whatever
        // `*_syslog` says, as in supervisord.
        v_.boolean("stdout_syslog", p.stdout_log.syslog);
        v_.boolean("stderr_syslog", p.stderr_log.syslog);
        log_target(p, "stdout_logfile", ".out.log", p.stdout_log);
        log_target(p, "stderr_logfile", ".err.log", p.stderr_log);
        v_.size("stdout_logfile_maxbytes", p.stdout_log.max_bytes, 0);
        v_.size("stderr_logfile_maxbytes", p.stderr_log.max_bytes, 0);
        v_.integer("stdout_logfile_backups", p.stdout_log.backups, 0, 1000);
        v_.integer("stderr_logfile_backups", p.stderr_log.backups, 0, 1000);
        v_.boolean("redirect_stderr", p.redirect_stderr);
        if (p.redirect_stderr) {
            // stderr goes into the stdout log; a separate stderr file would
            // stay empty. supervisord ignores the file with a warning.
            if (const ini::Entry* e = v_.entry("stderr_logfile"); e && !p.stderr_log.path.empty())
                v_.lenient_error(*e, "has no effect with redirect_stderr = true (stderr goes to stdout_logfile)");
            p.stderr_log.path.clear();
            p.stderr_log.syslog = false;
        }
    }

    void log_target(const Program& p, std::string_view key, std::string_view suffix, LogTarget& out) {
        std::string value = "AUTO";
        const ini::Entry* e = v_.entry(key);
        if (e) {
            auto t = v_.text(*e);
            if (!t) return;
            value = std::string(trim(*t));
            if (value.empty()) {
                v_.error(*e, "must not be empty (AUTO, NONE or a path)");
                return;
            }
        }
        // supervisord 4's deprecated spelling of `*_syslog = true` with no file.
        if (iequals(value, "syslog")) {
            const std::string stream(key.substr(0, key.find('_')));
            v_.warn(*e, "syslog is deprecated (supervisord 4 warns too): write " + stream + "_syslog = true and " +
                            std::string(key) + " = NONE");
            out.path.clear();
            out.syslog = true;
        } else if (iequals(value, "NONE")) out.path.clear();
        else if (iequals(value, "AUTO")) out.path = daemon_.log_dir + "/" + p.name + std::string(suffix);
        else out.path = value;
    }

    void health(Program& p) {
        if (!v_.parsed("healthcheck", p.health,
                       [](const std::string& t, std::string& why) { return parse_healthcheck(t, why); }) &&
            !kind_has_default_health(p.kind)) {  // postgres and redis bring their own check
            if (v_.has("healthcheck")) return;  // its error is enough
            for (auto key : kHealthKeys)
                if (const ini::Entry* e = v_.entry(key)) v_.error(*e, "has no effect without healthcheck");
            return;
        }
        v_.duration("health_interval", p.health.interval, Duration{1});
        v_.duration("health_timeout", p.health.timeout, Duration{1});
        v_.integer("health_retries", p.health.retries, 1, 1000);
        v_.integer("health_rise", p.health.rise, 1, 1000);
        v_.duration("health_start_period", p.health.start_period, Duration{0});
        v_.duration("health_start_interval", p.health.start_interval, Duration{1});
        bool http = p.health.kind == HealthKind::http || p.health.kind == HealthKind::https;
        for (auto key : {"health_expect_status", "health_expect_body"})
            if (const ini::Entry* e = v_.entry(key); e && !http)
                v_.error(*e, "only applies to http:// and https:// health checks");
        if (http) {
            v_.integer("health_expect_status", p.health.expect_status, 100, 599);
            v_.string("health_expect_body", p.health.expect_body);
        }
        HealthCheck startup;
        if (v_.parsed("startup_check", startup,
                      [](const std::string& t, std::string& why) { return parse_healthcheck(t, why); }))
            p.health.startup.push_back(std::move(startup));
        if (const ini::Entry* e = v_.entry("on_unhealthy")) {
            if (auto t = v_.text(*e)) {
                std::string_view o = trim(*t);
                if (o == "restart") p.on_unhealthy = OnUnhealthy::restart;
                else if (o == "isolate") p.on_unhealthy = OnUnhealthy::isolate;
                else v_.error(*e, "expected restart or isolate, got '" + *t + "'");
            }
        }
    }

    void depends_on(Program& p) {
        const ini::Entry* e = v_.entry("depends_on");
        if (!e) return;
        auto t = v_.text(*e);
        if (!t) return;
        for (const auto& item : split_list(*t)) {
            Dependency d;
            d.loc = v_.loc(*e);
            std::size_t colon = item.find(':');
            d.name = item.substr(0, colon);
            if (colon != std::string::npos) {
                std::string cond = item.substr(colon + 1);
                if (cond == "healthy") d.condition = DependencyCondition::healthy;
                else if (cond != "started") {
                    v_.error(*e, "expected NAME, NAME:started or NAME:healthy, got '" + item + "'");
                    continue;
                }
            }
            if (!valid_name(d.name)) {
                v_.error(*e, "'" + d.name + "' is not a valid program or process name");
                continue;
            }
            p.depends_on.push_back(std::move(d));
        }
    }

    static std::optional<AutoRestart> parse_autorestart(const std::string& t, std::string& why) {
        if (trim(t) == "unexpected") return AutoRestart::unexpected;
        if (auto b = parse_bool(t)) return *b ? AutoRestart::always : AutoRestart::never;
        why = "expected true, false or unexpected, got '" + t + "'";
        return std::nullopt;
    }

    static std::optional<std::vector<int>> parse_exitcodes(const std::string& t, std::string& why) {
        std::vector<int> codes;
        for (const auto& item : split_list(t)) {
            auto n = parse_int(item, 0, 255, why);
            if (!n) return std::nullopt;
            if (std::find(codes.begin(), codes.end(), *n) == codes.end()) codes.push_back(static_cast<int>(*n));
        }
        if (codes.empty()) {
            why = "expected a comma separated list of exit codes such as 0,2";
            return std::nullopt;
        }
        return codes;
    }

    void startretries(Program& p) {
        const ini::Entry* e = v_.entry("startretries");
        if (!e) return;
        auto t = v_.text(*e);
        if (!t) return;
        if (trim(*t) == "unlimited") {
            p.startretries.reset();
            return;
        }
        std::string why;
        if (auto n = parse_int(*t, 0, 1000000, why)) p.startretries = static_cast<int>(*n);
        else v_.error(*e, "expected unlimited or a number ≥ 0, got '" + *t + "'");
    }

    const RawSection& s_;
    Values v_;
    const Daemon& daemon_;
    const Program& defaults_;
    std::string ignored_;
};

}  // namespace

std::vector<Program> build_programs(const std::vector<RawSection>& sections, const Daemon& daemon,
                                    const Program& defaults, const std::vector<Group>& groups,
                                    const Where& where, const LoadOptions& options, Errors& errors) {
    std::map<std::string, std::string> group_of;
    for (const auto& g : groups) {
        auto at = where.group_programs.count(g.name) ? where.group_programs.at(g.name) : g.loc;
        for (const auto& name : g.programs) {
            auto [it, fresh] = group_of.emplace(name, g.name);
            if (!fresh) errors.add(at, "programs: '" + name + "' is already in [group:" + it->second + "]");
        }
    }

    std::vector<Program> out;
    std::map<std::string, std::size_t> by_name;  // process name → index in out
    std::map<std::string, std::string> by_address;
    std::map<std::string, std::string> by_data_dir;
    std::size_t made = 0;
    for (const auto& s : sections) {
        if (s.type != "program" && s.type != "fcgi-program") continue;
        Keys keys = s.type == "program" ? Keys(s, kProgramKeys, {}, errors) : Keys(s, fcgi_program_keys(), {}, errors);
        ExpandVars vars = base_vars(s, options);
        vars.strings.emplace("program_name", s.name);
        auto g = group_of.find(s.name);
        const std::string group = g == group_of.end() ? s.name : g->second;
        vars.strings.emplace("group_name", group);
        ProgramBuilder builder(s, keys, vars, daemon, defaults, errors);
        Values& v = builder.values();

        int numprocs = 1, start = 0;
        v.integer("numprocs", numprocs, 1, kMaxNumprocs);
        v.integer("numprocs_start", start, 0, 1000000);
        const ini::Entry* pn = v.entry("process_name");
        std::string process_name_raw = pn ? pn->joined(" ") : "%(program_name)s";
        if (numprocs > 1 && process_name_raw.find("%(process_num)") == std::string::npos) {
            const ini::Entry* np = v.entry("numprocs");
            SourceLoc at = pn ? v.loc(*pn) : np ? v.loc(*np) : v.loc();
            errors.add(at, "process_name: must contain %(process_num)d when numprocs > 1 (every process needs its "
                           "own name), e.g. %(program_name)s_%(process_num)d");
            numprocs = 1;
        }
        vars.numbers["numprocs"] = numprocs;
        for (int n = start; n < start + numprocs; ++n) {
            if (++made > kMaxProcesses) {
                if (made == kMaxProcesses + 1)
                    errors.add(s.loc, "too many processes (the limit is " + std::to_string(kMaxProcesses) + ")");
                break;
            }
            vars.numbers["process_num"] = n;
            Program p = builder.build(group, n, numprocs, process_name_raw);
            SourceLoc at = pn ? v.loc(*pn) : s.loc;
            auto [it, fresh] = by_name.emplace(p.name, out.size());
            if (!fresh) {
                const Program& other = out[it->second];
                errors.add(at, "duplicate process name '" + p.name + "' (also made by [program:" + other.program +
                                   "] at " + other.loc.file + ":" + std::to_string(other.loc.line) + ")");
                continue;
            }
            if (options.host_checks)
                for (const auto& problem : check_on_host(p, options.env)) {
                    const ini::Entry* e = v.entry(problem.key);
                    errors.add(e ? v.loc(*e) : s.loc, problem.key + ": " + problem.message);
                }
            if (!p.data_dir.empty()) {
                auto [d, dfresh] = by_data_dir.emplace(p.data_dir, p.name);
                if (!dfresh)
                    errors.add(v.loc(*v.entry("data_dir")),
                               "data_dir: '" + p.data_dir + "' is also the data_dir of " + d->second +
                                   " (with numprocs, put %(process_num)d in it)");
            }
            if (!p.address.empty()) {
                auto [a, afresh] = by_address.emplace(p.address, p.name);
                if (!afresh)
                    errors.add(v.loc(*v.entry("address")),
                               "address: '" + p.address + "' is also the address of " + a->second);
            }
            out.push_back(std::move(p));
        }
    }
    return out;
}

}  // namespace vigil::config::detail
