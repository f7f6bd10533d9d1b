#include "config/socket_url.hpp"

#include <sys/un.h>

#include "config/values.hpp"

namespace vigil::config {

std::string SocketUrl::text() const {
    if (family == Family::unix_path) return "unix://" + path;
    const bool v6 = host.find(':') != std::string::npos;
    return "tcp://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<SocketUrl> parse_socket_url(std::string_view text, std::string& error) {
    const std::string_view t = trim(text);
    SocketUrl url;
    if (t.rfind("unix://", 0) == 0) {
        url.family = SocketUrl::Family::unix_path;
        url.path = std::string(t.substr(7));
        if (url.path.empty() || url.path.front() != '/') {
            error = "expected unix:///ABSOLUTE/PATH, got '" + std::string(t) + "'";
            return std::nullopt;
        }
        // sun_path holds the path and its NUL.
        if (url.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
            error = "socket path is longer than " + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                    " bytes: '" + url.path + "'";
            return std::nullopt;
        }
        return url;
    }
    if (t.rfind("tcp://", 0) == 0) {
        std::string_view authority = t.substr(6);
        std::string why;
        // "*:PORT" is supervisord's and nginx's "every address".
        const bool any = authority.rfind("*:", 0) == 0;
        auto hp = parse_host_port(any ? "0.0.0.0" + std::string(authority.substr(1)) : std::string(authority), why);
        if (!hp) {
            error = why;
            return std::nullopt;
        }
        url.host = any ? "*" : hp->host;
        url.port = hp->port;
        return url;
    }
    error = "expected tcp://HOST:PORT or unix:///PATH, got '" + std::string(t) + "'";
    return std::nullopt;
}

}  // namespace vigil::config
