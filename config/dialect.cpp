// The two dialects of the config: a vigil config and a supervisord config
// (one that has [supervisord] and no [vigil]). They read the same keys; what
// differs is the defaults (docs/config.md lists both) and how strict the
// loader is with what it does not know: supervisord ignores unknown keys and
// sections, so in its configs they are warnings.
#include "config/build.hpp"

namespace vigil::config::detail {

bool is_supervisord_config(const std::vector<RawSection>& sections) {
    bool supervisord = false;
    for (const auto& s : sections) {
        if (s.type == "vigil") return false;
        if (s.type == "supervisord") supervisord = true;
    }
    return supervisord;
}

Daemon daemon_defaults(bool supervisord, const LoadOptions& options) {
    Daemon d;
    if (!supervisord) return d;
    // supervisord's childlogdir default: Python's tempfile.gettempdir().
    auto tmp = options.env.find("TMPDIR");
    d.log_dir = tmp != options.env.end() && !tmp->second.empty() ? tmp->second : "/tmp";
    d.minfds = 1024;
    d.minprocs = 200;
    d.umask = 022;
    d.identifier = "supervisor";
    return d;
}

Program program_defaults(bool supervisord, const Daemon& daemon) {
    Program p;
    p.user = daemon.user;
    p.directory = daemon.directory;
    if (!supervisord) return p;
    p.autorestart = AutoRestart::unexpected;
    p.startretries = 3;
    p.stopasgroup = false;
    p.killasgroup = false;
    return p;
}

}  // namespace vigil::config::detail
