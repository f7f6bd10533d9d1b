#include "proxy/inherited_sockets.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace vigil::proxy {

std::vector<InheritedSocket> take_inherited_sockets() {
    std::vector<InheritedSocket> out;
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    const bool ours = pid && fds && std::strtol(pid, nullptr, 10) == ::getpid();
    const long n = ours ? std::strtol(fds, nullptr, 10) : 0;
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    for (long i = 0; i < n && i < 1024; ++i) {
        const int fd = 3 + static_cast<int>(i);
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // ours alone, not our children's
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) continue;
        InheritedSocket s;
        s.fd = fd;
        char ip[INET6_ADDRSTRLEN] = {};
        if (ss.ss_family == AF_INET) {
            const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
            ::inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            s.port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
            ::inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            s.port = ntohs(a->sin6_port);
            s.v6 = true;
        } else {
            continue;  // a unix socket is not a [proxy:*] listener
        }
        s.ip = ip;
        out.push_back(s);
    }
    return out;
}

int find_inherited(const std::vector<InheritedSocket>& sockets, const std::string& ip, std::uint16_t port) {
    for (const auto& s : sockets)
        if (s.port == port && s.ip == ip) return s.fd;
    return -1;
}

}  // namespace vigil::proxy
