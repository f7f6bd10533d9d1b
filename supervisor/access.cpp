#include "supervisor/access.hpp"

#include <algorithm>
#include <array>

namespace vigil::supervisor {
namespace {

// What supervisorctl's status, pid and avail ask, and the introspection.
// getAllConfigInfo is not here: it carries every program's command line.
constexpr std::array<std::string_view, 12> kReadMethods{
    "supervisor.getAPIVersion",   "supervisor.getVersion",         "supervisor.getSupervisorVersion",
    "supervisor.getIdentification", "supervisor.getState",         "supervisor.getPID",
    "supervisor.getProcessInfo",  "supervisor.getAllProcessInfo",  "system.listMethods",
    "system.methodHelp",          "system.methodSignature",        "system.multicall"};
constexpr std::array<std::string_view, 8> kLogMethods{
    "supervisor.readLog",            "supervisor.readMainLog",          "supervisor.readProcessLog",
    "supervisor.readProcessStdoutLog", "supervisor.readProcessStderrLog", "supervisor.tailProcessLog",
    "supervisor.tailProcessStdoutLog", "supervisor.tailProcessStderrLog"};

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& list, std::string_view m) {
    return std::find(list.begin(), list.end(), m) != list.end();
}

}  // namespace

std::string refused_route(const Access& a, std::string_view method, std::string_view path) {
    if (a.level == Access::Level::write) return {};
    if (a.level == Access::Level::none) return "permission denied: not root, owner or in socket_group";
    const bool log_route =
        path.starts_with("/logtail/") || (path.starts_with("/v1/programs/") && path.ends_with("/log"));
    if (log_route) return a.logs ? "" : "permission denied: program output needs log_group (read-only access)";
    // XML-RPC's methods are checked one by one (refused_method).
    if (path == "/RPC2") return {};
    if (method == "GET" || method == "HEAD") return {};
    return "permission denied: read-only access (read_only_group)";
}

std::string refused_method(const Access& a, std::string_view method) {
    if (a.level == Access::Level::write) return {};
    if (a.level == Access::Level::none) return "permission denied";
    if (listed(kReadMethods, method)) return {};
    if (listed(kLogMethods, method))
        return a.logs ? "" : "permission denied: program output needs log_group (read-only access)";
    return "permission denied: read-only access allows only status and info methods";
}

}  // namespace vigil::supervisor
