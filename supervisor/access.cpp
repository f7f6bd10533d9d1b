#include "supervisor/access.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

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

bool host_safe_without_auth(std::string_view host) {
    if (host.empty()) return true;
    std::string name;
    if (host.front() == '[') {  // [v6] or [v6]:port
        const auto close = host.find(']');
        if (close == std::string_view::npos) return false;
        const auto rest = host.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || rest.size() == 1 ||
                              !std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; })))
            return false;
        name.assign(host.substr(1, close - 1));
        unsigned char buf[16];
        return ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
    }
    const auto colon = host.rfind(':');
    if (colon != std::string_view::npos) {
        const auto port = host.substr(colon + 1);
        if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return false;
        host = host.substr(0, colon);
    }
    name.assign(host);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (name == "localhost" || name == "localhost.") return true;
    // inet_pton, not inet_aton: "127.1" or "0x7f.1" are names to a browser's
    // resolver only in part; dotted quads are the one spelling let through.
    unsigned char buf[4];
    return ::inet_pton(AF_INET, name.c_str(), buf) == 1;
}

}  // namespace vigil::supervisor
