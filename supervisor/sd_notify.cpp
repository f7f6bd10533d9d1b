#include "supervisor/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace vigil::supervisor {

SdNotify::SdNotify() {
    if (const char* p = std::getenv("NOTIFY_SOCKET"); p && *p) path_ = p;
    const char* usec = std::getenv("WATCHDOG_USEC");
    const char* pid = std::getenv("WATCHDOG_PID");
    const bool for_us = !pid || std::strtol(pid, nullptr, 10) == ::getpid();
    if (usec && for_us) {
        const long long us = std::strtoll(usec, nullptr, 10);
        if (us > 0) watchdog_ = std::chrono::milliseconds(us / 2000);
    }
}

bool SdNotify::send(const std::string& message) const {
    if (path_.empty() || path_.size() >= sizeof(sockaddr_un::sun_path)) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
    const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const bool ok = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                             len) == static_cast<ssize_t>(message.size());
    ::close(fd);
    return ok;
}

}  // namespace vigil::supervisor
