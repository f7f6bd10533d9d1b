// supervisord's listener sections as vigild and vigilctl use them:
// [unix_http_server] is vigild's control socket (path, mode, owner),
// [inet_http_server] an optional TCP listener for the same API behind HTTP
// basic auth, [supervisorctl] where vigilctl (and supervisorctl) connect,
// and [rpcinterface:supervisor] the XML-RPC interface, which vigild always
// serves (the section is checked, not required).
#pragma once

#include <optional>
#include <string>

namespace vigil::config {

struct Credentials {
    std::string username;
    std::string password;  // plain, or "{SHA}" + hex SHA-1 of the password
    bool empty() const { return username.empty() && password.empty(); }
    bool operator==(const Credentials&) const = default;
};

struct HttpServers {
    // [unix_http_server]: `file` becomes Daemon::control_socket unless
    // [vigil] sets control_socket itself.
    std::optional<unsigned> socket_mode;  // chmod
    std::string socket_owner;             // chown: user
    std::string socket_owner_group;       // chown: the group after ':'
    Credentials unix_auth;
    // [inet_http_server]: port = [host]:port; empty host = every address.
    bool inet = false;
    std::string inet_host;
    int inet_port = 0;
    Credentials inet_auth;
    // vigil's read_only_username/read_only_password: a second user who may
    // only read (supervisor/access.hpp), never program output.
    Credentials inet_read_auth;
    // [supervisorctl]
    std::string serverurl;  // unix:///path or http://host:port
    // Where vigilctl connects: serverurl's path when it is unix:// and
    // [vigil] names no control_socket; else empty (use control_socket).
    std::string ctl_socket;
    Credentials ctl_auth;
    bool operator==(const HttpServers&) const = default;
};

}  // namespace vigil::config
