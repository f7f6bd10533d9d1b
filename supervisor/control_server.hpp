// HTTP/1.1 on vigild's Unix socket, carrying ControlApi. The socket is 0600
// (0660 with `socket_group` or `read_only_group`, 0666 with both), and each
// peer's credentials are checked too (SO_PEERCRED): root, vigild's own user
// and members of the socket group may act, members of read_only_group may
// read (supervisor/access.hpp), anyone else gets 403. Every connection has a header and body limit and
// a read deadline, so a slow or hostile client costs one fd, not vigild; at
// most kMaxSessions connections are served at once, and when descriptors run
// out accepting pauses instead of spinning.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "supervisor/access.hpp"
#include "supervisor/control_api.hpp"

namespace vigil::supervisor {

class ControlSessionBase;

class ControlServer {
public:
    ControlServer(boost::asio::io_context& io, ControlApi& api, Supervisor& sup);

    // Binds the socket. Returns an error message (empty on success): a path
    // another vigild answers on is "in use"; a stale file is replaced.
    // `group` may act, `read_group` may read (program output only if also in
    // `log_group`): supervisor/access.hpp.
    std::string listen(const std::string& path, const std::string& group, const std::string& read_group = "",
                       const std::string& log_group = "");
    struct Groups {
        std::optional<gid_t> write, read, logs;
    };
    // [unix_http_server]: basic auth on the socket too (empty: none), then
    // its chmod and chown. Returns an error message (empty on success).
    std::string secure_socket(const config::HttpServers& http);
    // [inet_http_server]: the same API on TCP, behind basic auth when
    // credentials are set (tcp_listener.cpp). Returns an error message.
    std::string listen_tcp(const config::HttpServers& http);
    // Stops accepting and closes every open connection (they hold observers
    // into the Supervisor, which must not outlive it).
    void close();

    // Limits, public for tests and documentation.
    static constexpr std::size_t kHeaderLimit = 8 * 1024;
    static constexpr std::size_t kBodyLimit = 1024 * 1024;
    static constexpr std::chrono::seconds kReadTimeout{10};
    // Connections served at once; one more gets a 503 and is closed, so a
    // flood of idle clients cannot take every descriptor vigild has.
    static constexpr std::size_t kMaxSessions = 256;
    // How long accepting pauses after accept() fails (EMFILE, ENFILE,
    // ENOBUFS): the connection stays queued, so retrying at once would spin.
    static constexpr std::chrono::milliseconds kAcceptPause{100};

private:
    void accept();
    void accept_tcp();
    bool over_session_limit(int fd);
    void on_accept_error(const boost::system::error_code& ec);
    std::size_t live_sessions();

    boost::asio::io_context& io_;
    ControlApi& api_;
    Supervisor& sup_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    std::string path_;
    Groups groups_;
    boost::asio::ip::tcp::acceptor tcp_acceptor_;
    std::optional<config::Credentials> unix_auth_, tcp_auth_, tcp_read_auth_;
    std::vector<std::weak_ptr<ControlSessionBase>> sessions_;
    boost::asio::steady_timer accept_pause_;
    boost::asio::steady_timer tcp_pause_;
    bool accept_failing_ = false;  // logged once per episode
    std::uint64_t refused_ = 0;    // over kMaxSessions, this episode
};

}  // namespace vigil::supervisor
