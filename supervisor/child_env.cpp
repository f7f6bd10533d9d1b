#include "supervisor/child_env.hpp"

#include <map>

extern char** environ;

namespace vigil::supervisor {

// vigild's own environment, then what supervisord tells its children
// (process.py: SUPERVISOR_ENABLED, _PROCESS_NAME, _GROUP_NAME, _SERVER_URL,
// which supervisor.childutils.getRPCInterface reads) and vigil's own names
// for the same, then the program's `environment`, which wins, as in
// supervisord. Set in vigil configs too: a program may test
// SUPERVISOR_ENABLED whichever dialect runs it.
std::vector<std::string> child_environment(const config::Program& p, const std::string& server_url) {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string kv(*e);
        const auto eq = kv.find('=');
        if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    // vigild's own notify socket belongs to systemd and vigild, not to children.
    env.erase("NOTIFY_SOCKET");
    env.erase("WATCHDOG_USEC");
    env.erase("WATCHDOG_PID");
    env.erase("LISTEN_FDS");
    env.erase("LISTEN_PID");
    env.erase("LISTEN_FDNAMES");
    env["VIGIL_ENABLED"] = "1";
    env["VIGIL_PROCESS_NAME"] = p.name;
    env["VIGIL_GROUP_NAME"] = p.group;
    env["SUPERVISOR_ENABLED"] = "1";
    env["SUPERVISOR_PROCESS_NAME"] = p.name;
    env["SUPERVISOR_GROUP_NAME"] = p.group;
    env["SUPERVISOR_SERVER_URL"] = p.serverurl.empty() ? server_url : p.serverurl;
    for (const auto& [k, v] : p.environment) env[k] = v;
    std::vector<std::string> out;
    out.reserve(env.size());
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
}

void set_user_env(std::vector<std::string>& env, const config::Program& p, const std::string& key,
                  const std::string& value) {
    for (const auto& [k, v] : p.environment)
        if (k == key) return;
    const std::string prefix = key + "=";
    for (auto& kv : env)
        if (kv.rfind(prefix, 0) == 0) {
            kv = prefix + value;
            return;
        }
    env.push_back(prefix + value);
}

}  // namespace vigil::supervisor
