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
    bool unix_section = false;  // the config has [unix_http_server]
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
    // serverurl's host and port when it is http:// and [vigil] names no
    // control_socket (ctl_port 0: not set).
    std::string ctl_host;
    int ctl_port = 0;
    Credentials ctl_auth;
    bool operator==(const HttpServers&) const = default;
};

struct Daemon;

// SUPERVISOR_SERVER_URL for programs that set no `serverurl`, by
// supervisord's rule (options.py): the Unix socket when the config has
// [unix_http_server], else [inet_http_server]'s http://host:port (host
// `localhost` when it listens everywhere). vigild always has its control
// socket, so a config with neither gets that socket's unix:// URL (where
// supervisord would set none).
std::string children_server_url(const Daemon& daemon);

// supervisorctl's http://host[:port][/path] (port 80 by default; IPv6 in
// brackets, returned without them); false when it is not one.
bool parse_http_url(const std::string& url, std::string& host, int& port);

}  // namespace vigil::config
