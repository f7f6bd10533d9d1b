// HTTP/1.1 on vigild's Unix socket, carrying ControlApi. The socket is 0600
// (0660 with `socket_group`), and each peer's credentials are checked too
// (SO_PEERCRED): root, vigild's own user and members of the socket group may
// act, anyone else gets 403. Every connection has a header and body limit and
// a read deadline, so a slow or hostile client costs one fd, not vigild.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "supervisor/control_api.hpp"

namespace vigil::supervisor {

class ControlSession;

class ControlServer {
public:
    ControlServer(boost::asio::io_context& io, ControlApi& api, Supervisor& sup);

    // Binds the socket. Returns an error message (empty on success): a path
    // another vigild answers on is "in use"; a stale file is replaced.
    std::string listen(const std::string& path, const std::string& group);
    // Stops accepting and closes every open connection (they hold observers
    // into the Supervisor, which must not outlive it).
    void close();

    // Limits, public for tests and documentation.
    static constexpr std::size_t kHeaderLimit = 8 * 1024;
    static constexpr std::size_t kBodyLimit = 1024 * 1024;
    static constexpr std::chrono::seconds kReadTimeout{10};

private:
    void accept();

    boost::asio::io_context& io_;
    ControlApi& api_;
    Supervisor& sup_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    std::string path_;
    std::optional<gid_t> group_;
    std::vector<std::weak_ptr<ControlSession>> sessions_;
};

}  // namespace vigil::supervisor
