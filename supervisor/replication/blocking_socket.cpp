#include "supervisor/replication/blocking_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil::supervisor::replication {

Fd::~Fd() {
    if (fd >= 0) ::close(fd);
}

// Connects within `timeout_ms`, then leaves the socket blocking with
// send and receive timeouts of `io_timeout_s`.
std::string connect_to(const Target& t, Fd& s, int timeout_ms, int io_timeout_s) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (::inet_pton(AF_INET, t.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(t.port));
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, t.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(t.port));
        len = sizeof *v6;
    } else {
        return "not a numeric address: " + t.host;
    }
    s.fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s.fd < 0) return std::string("socket: ") + std::strerror(errno);
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
        if (errno != EINPROGRESS) return "connect to " + t.host + ":" + std::to_string(t.port) + ": " + std::strerror(errno);
        pollfd p{s.fd, POLLOUT, 0};
        int r;
        do r = ::poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r == 0) return "connect to " + t.host + ":" + std::to_string(t.port) + ": timed out";
        int err = 0;
        socklen_t el = sizeof err;
        ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (r < 0 || err != 0)
            return "connect to " + t.host + ":" + std::to_string(t.port) + ": " + std::strerror(r < 0 ? errno : err);
    }
    ::fcntl(s.fd, F_SETFL, ::fcntl(s.fd, F_GETFL) & ~O_NONBLOCK);
    timeval tv{io_timeout_s, 0};
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int one = 1;
    ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return {};
}

std::string send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::string("send: ") + (n < 0 ? std::strerror(errno) : "nothing sent");
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

}  // namespace vigil::supervisor::replication
