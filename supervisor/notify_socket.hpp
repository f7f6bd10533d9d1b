// The NOTIFY_SOCKET vigild serves to a child (the sd_notify datagram
// protocol: READY=1, STATUS=…, WATCHDOG=1, STOPPING=1). One abstract Unix
// socket per program, so no file needs permissions for a child running as
// another user; each datagram carries the sender's credentials
// (SO_PASSCRED) and only the program's main process is listened to, as
// systemd's NotifyAccess=main does.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace vigil::supervisor {

class NotifySocket : public std::enable_shared_from_this<NotifySocket> {
public:
    // One KEY=VALUE assignment from the child, with the sender's pid.
    using Handler = std::function<void(pid_t sender, std::string_view key, std::string_view value)>;

    // Binds "@vigil/<vigild pid>/<name>"; error() says why when it cannot.
    // `carried_fd` >= 0: that socket, already bound there by this vigild's
    // image before a re-exec (the pid, and so the address, is the same).
    NotifySocket(boost::asio::io_context& io, const std::string& name, Handler handler, int carried_fd = -1);
    void start();
    void close();

    const std::string& address() const { return address_; }  // the NOTIFY_SOCKET value
    const std::string& error() const { return error_; }
    int fd() { return fd_ ? fd_->native_handle() : -1; }

private:
    void wait();
    void drain();

    std::optional<boost::asio::posix::stream_descriptor> fd_;
    std::string address_, error_;
    Handler handler_;
    bool closed_ = false;
};

}  // namespace vigil::supervisor
