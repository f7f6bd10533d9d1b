#include "supervisor/notify_socket.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil::supervisor {

NotifySocket::NotifySocket(boost::asio::io_context& io, const std::string& name, Handler handler, int carried_fd)
    : handler_(std::move(handler)) {
    address_ = "@vigil/" + std::to_string(::getpid()) + "/" + name;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (address_.size() >= sizeof addr.sun_path) address_.resize(sizeof addr.sun_path - 1);
    if (carried_fd >= 0) {
        fd_.emplace(io, carried_fd);
        return;
    }
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    addr.sun_path[0] = '\0';  // abstract namespace
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int one = 1;
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0) {
        error_ = "notify socket " + address_ + ": " + std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return;
    }
    fd_.emplace(io, fd);
}

void NotifySocket::start() {
    if (fd_) wait();
}

void NotifySocket::close() {
    closed_ = true;
    if (fd_) fd_->close();
}

void NotifySocket::wait() {
    fd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                    [weak = weak_from_this()](const boost::system::error_code& ec) {
                        auto self = weak.lock();
                        if (!self || ec || self->closed_) return;
                        self->drain();
                        if (!self->closed_) self->wait();
                    });
}

void NotifySocket::drain() {
    for (;;) {
        char buf[4096];
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
        iovec iov{buf, sizeof buf};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(fd_->native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) return;  // EAGAIN: all read
        pid_t sender = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
                sender = reinterpret_cast<ucred*>(CMSG_DATA(c))->pid;
        // A datagram holds newline-separated assignments.
        std::string_view text(buf, static_cast<std::size_t>(n));
        while (!text.empty()) {
            const auto nl = text.find('\n');
            const std::string_view line = text.substr(0, nl);
            text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
            const auto eq = line.find('=');
            if (eq == std::string_view::npos || eq == 0) continue;
            handler_(sender, line.substr(0, eq), line.substr(eq + 1));
        }
    }
}

}  // namespace vigil::supervisor
