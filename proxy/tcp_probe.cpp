// <linux/tcp.h> rather than <netinet/tcp.h>: glibc's struct tcp_info stops
// before tcpi_bytes_acked, and the two headers cannot be mixed in one file.
#include "proxy/tcp_probe.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>

namespace vigil::proxy {

bool idle_conn_alive(int fd) noexcept {
    char c;
    const ssize_t r = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::optional<std::uint64_t> bytes_acked(int fd) noexcept {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
    // An older kernel fills a shorter struct: then the field is not there.
    if (len < offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) return std::nullopt;
    return info.tcpi_bytes_acked;
}

}  // namespace vigil::proxy
