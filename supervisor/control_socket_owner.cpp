// Who owns the control socket and which groups act or read through it:
// [unix_http_server] chmod/chown and the socket_group, read_only_group and
// log_group keys, resolved once at listen time (the names may not exist:
// that is a config error, not a silent fallback to 0600).
#include "supervisor/control_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <tuple>

namespace vigil::supervisor {

std::string ControlServer::resolve_groups(const std::string& group, const std::string& read_group,
                                          const std::string& log_group) {
    for (auto [key, name, gid] : {std::tuple{"socket_group", &group, &groups_.write},
                                  std::tuple{"read_only_group", &read_group, &groups_.read},
                                  std::tuple{"log_group", &log_group, &groups_.logs}}) {
        if (name->empty()) continue;
        struct group* g = ::getgrnam(name->c_str());
        if (!g) return std::string(key) + " '" + *name + "' does not exist";
        *gid = g->gr_gid;
    }
    return {};
}

std::string ControlServer::secure_socket(const config::HttpServers& http) {
    if (!http.unix_auth.empty()) unix_auth_ = http.unix_auth;
    if (http.socket_mode && ::chmod(path_.c_str(), *http.socket_mode) < 0)
        return "control socket " + path_ + ": chmod: " + std::strerror(errno);
    if (http.socket_mode) peer_rule_.mode = static_cast<mode_t>(*http.socket_mode);
    if (http.socket_owner.empty()) return {};
    const passwd* pw = ::getpwnam(http.socket_owner.c_str());
    if (!pw) return "[unix_http_server] chown: no user '" + http.socket_owner + "'";
    gid_t gid = pw->pw_gid;
    if (!http.socket_owner_group.empty()) {
        const struct group* g = ::getgrnam(http.socket_owner_group.c_str());
        if (!g) return "[unix_http_server] chown: no group '" + http.socket_owner_group + "'";
        gid = g->gr_gid;
    }
    if (::chown(path_.c_str(), pw->pw_uid, gid) < 0)
        return "control socket " + path_ + ": chown: " + std::strerror(errno);
    peer_rule_.owner = pw->pw_uid;
    peer_rule_.group = gid;
    return {};
}

}  // namespace vigil::supervisor
