// The address of a socket vigild holds for a program (`sockets =` and
// supervisord's `[fcgi-program:x] socket =`): tcp://HOST:PORT or
// unix:///ABSOLUTE/PATH, as supervisord and systemd's ListenStream= spell them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::config {

struct SocketUrl {
    enum class Family { tcp, unix_path };
    Family family = Family::tcp;
    std::string host;  // tcp: without IPv6 brackets; "*" binds every address
    std::uint16_t port = 0;
    std::string path;  // unix: absolute
    // The canonical spelling, the key under which vigild holds the socket.
    std::string text() const;
};

std::optional<SocketUrl> parse_socket_url(std::string_view text, std::string& error);

}  // namespace vigil::config
