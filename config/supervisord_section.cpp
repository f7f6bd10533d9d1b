// [supervisord]: every key of supervisord 4.2's documentation, honoured when
// vigild has the equivalent, otherwise accepted with a warning that says it
// has no effect (only when its value asks for something vigild does not do).
// docs/config.md lists which is which.
#include <algorithm>
#include <cctype>

#include "config/build.hpp"
#include "config/units.hpp"
#include "config/values.hpp"

namespace vigil::config::detail {
namespace {

constexpr std::string_view kKeys[] = {
    "logfile", "logfile_maxbytes", "logfile_backups", "loglevel",   "pidfile", "umask",
    "nodaemon", "silent",          "minfds",          "minprocs",   "nocleanup", "childlogdir",
    "user",     "directory",       "strip_ansi",      "environment", "identifier",
};

// supervisord's level names (supervisor/loggers.py) → vigild's.
std::optional<std::string> log_level(std::string_view text) {
    std::string s(trim(text));
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (s == "critical" || s == "error" || s == "info" || s == "debug" || s == "trace") return s;
    if (s == "warn") return std::string("warn");
    if (s == "blather") return std::string("trace");  // supervisord's most verbose level
    return std::nullopt;
}

class SupervisordSection {
public:
    SupervisordSection(const RawSection& s, const Keys& keys, const ExpandVars& vars, Errors& errors, Daemon& d)
        : v_(s, keys, vars, errors), d_(d) {}

    void build() {
        path("logfile", d_.logfile);
        if (d_.logfile == "syslog") {
            v_.warn(*v_.entry("logfile"), "syslog has no effect in vigil: vigild logs to stderr (the journal "
                                          "under systemd)");
            d_.logfile.clear();
        }
        v_.size("logfile_maxbytes", d_.logfile_maxbytes, 0);
        v_.integer("logfile_backups", d_.logfile_backups, 0, 1000);
        v_.parsed("loglevel", d_.log_level, [](const std::string& t, std::string& why) {
            auto level = log_level(t);
            if (!level) why = "expected critical, error, warn, info, debug, trace or blather, got '" + t + "'";
            return level;
        });
        path("pidfile", d_.pidfile);
        v_.parsed("umask", d_.umask, [](const std::string& t, std::string& why) { return parse_umask(t, why); });
        number("minfds", d_.minfds);
        number("minprocs", d_.minprocs);
        path("childlogdir", d_.log_dir);
        v_.string("user", d_.user);
        path("directory", d_.directory);
        v_.boolean("silent", d_.silent);
        v_.boolean("strip_ansi", d_.strip_ansi);
        v_.string("identifier", d_.identifier);
        d_.environment = v_.environment("environment");

        // What vigild does whatever the value: a warning only when the value
        // asks for something else.
        bool nodaemon = true, nocleanup = true;
        v_.boolean("nodaemon", nodaemon);
        v_.boolean("nocleanup", nocleanup);
        if (!nodaemon)
            v_.warn(*v_.entry("nodaemon"), "has no effect in vigil: vigild never daemonizes (run it from systemd or "
                                           "as a container's entrypoint)");
        if (!nocleanup)
            v_.warn(*v_.entry("nocleanup"), "has no effect in vigil: vigild never removes AUTO log files at start "
                                            "(their names are fixed: NAME.out.log, NAME.err.log)");
        if (d_.silent && d_.logfile.empty()) {
            v_.warn(*v_.entry("silent"), "with no logfile, vigild would log nothing: it keeps logging to stderr");
            d_.silent = false;
        }
    }

private:
    void path(std::string_view key, std::string& out) {
        const ini::Entry* e = v_.entry(key);
        if (!e) return;
        auto t = v_.text(*e);
        if (!t) return;
        std::string value(trim(*t));
        if (value.empty()) {
            v_.error(*e, "must not be empty");
            return;
        }
        // supervisord expands a leading ~ (os.path.expanduser).
        if (const auto* env = v_.vars().env; env && value.front() == '~' && (value.size() == 1 || value[1] == '/'))
            if (auto home = env->find("HOME"); home != env->end()) value = home->second + value.substr(1);
        out = std::move(value);
    }

    void number(std::string_view key, std::uint64_t& out) {
        v_.parsed(key, out, [](const std::string& t, std::string& why) -> std::optional<std::uint64_t> {
            auto n = parse_int(t, 0, 1ll << 30, why);
            if (!n) return std::nullopt;
            return static_cast<std::uint64_t>(*n);
        });
    }

    Values v_;
    Daemon& d_;
};

}  // namespace

void build_supervisord(const std::vector<RawSection>& sections, const LoadOptions& options, Errors& errors,
                       Daemon& daemon) {
    for (const auto& s : sections) {
        if (s.type != "supervisord") continue;
        Keys keys(s, kKeys, {}, errors);
        ExpandVars vars = base_vars(s, options);
        SupervisordSection(s, keys, vars, errors, daemon).build();
    }
}

}  // namespace vigil::config::detail
