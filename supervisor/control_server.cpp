#include "supervisor/control_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <type_traits>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "supervisor/xmlrpc/basic_auth.hpp"

namespace vigil::supervisor {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using local = boost::asio::local::stream_protocol;

// What the peer may do. Root and vigild's own user act. Anyone else acts
// as the socket's permissions say, by the kernel's rule (owner bits for the
// owner, group bits for its group, the rest for others): the kernel already
// checked write permission at connect(), this holds whatever reached the
// socket another way (an inherited descriptor, a path that was replaced),
// and with [unix_http_server] chmod = 0770 and chown = app:www-data,
// members of www-data may act, as with supervisord. Otherwise members of
// read_only_group read (and see program output when also in log_group).
// Groups are the peer process's own (SO_PEERGROUPS), not those its user
// could have: a client that dropped a group does not get it back.
Access peer_access(int fd, uid_t owner, std::optional<gid_t> group, mode_t mode, const ControlServer::Groups& g) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return Access::denied();
    if (cred.uid == 0 || cred.uid == ::geteuid()) return Access::full();
    std::vector<gid_t> groups(64);
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    int rc = ::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen);
    if (rc < 0 && errno == ERANGE) {  // glen is now the size needed
        groups.resize(glen / sizeof(gid_t));
        rc = ::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen);
    }
    groups.resize(rc < 0 ? 0 : glen / sizeof(gid_t));  // before Linux 4.13: the primary group alone
    groups.push_back(cred.gid);
    auto member = [&](std::optional<gid_t> gid) {
        return gid && std::find(groups.begin(), groups.end(), *gid) != groups.end();
    };
    const bool writes = cred.uid == owner ? (mode & S_IWUSR) != 0
                        : member(group)   ? (mode & S_IWGRP) != 0
                                          : (mode & S_IWOTH) != 0;
    if (writes) return Access::full();
    if (member(g.read)) return Access::read_only(member(g.logs));
    return Access::denied();
}

}  // namespace

class ControlSessionBase {
public:
    virtual ~ControlSessionBase() = default;
    virtual void close() = 0;
    // Half-way through a request or its reply (a re-exec waits for these).
    virtual bool busy() const = 0;
};

// One connection, on the Unix socket or on [inet_http_server]'s TCP port.
// `auth`, when set, is asked of every request (HTTP basic auth).
template <class Socket>
class ControlSession : public ControlSessionBase, public std::enable_shared_from_this<ControlSession<Socket>> {
    using std::enable_shared_from_this<ControlSession<Socket>>::shared_from_this;
    using std::enable_shared_from_this<ControlSession<Socket>>::weak_from_this;

public:
    // `read_auth`: a second basic-auth user who only reads.
    ControlSession(Socket socket, ControlApi& api, Supervisor& sup, Access access,
                   std::optional<config::Credentials> auth, std::optional<config::Credentials> read_auth = {})
        : stream_(std::move(socket)), deadline_(stream_.get_executor()), api_(api), sup_(sup), access_(access),
          auth_(std::move(auth)), read_auth_(std::move(read_auth)) {}

    ~ControlSession() override { unsubscribe(); }

    void start() { read(); }

    bool busy() const override { return !closed_ && (in_request_ || (!streaming_ && buffer_.size() > 0)); }

    void close() override {
        if (closed_) return;
        closed_ = true;
        unsubscribe();
        deadline_.cancel();
        beast::error_code ec;
        stream_.shutdown(Socket::shutdown_both, ec);
        stream_.close(ec);
    }

private:
    void read() {
        parser_.emplace();
        parser_->header_limit(ControlServer::kHeaderLimit);
        parser_->body_limit(ControlServer::kBodyLimit);
        arm_deadline();
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    // A request must arrive whole within the deadline. On expiry the read is
    // cancelled, not the socket closed, so the client still gets its 408.
    void arm_deadline() {
        timed_out_ = false;
        deadline_.expires_after(ControlServer::kReadTimeout);
        deadline_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
            auto self = weak.lock();
            if (ec || !self) return;
            self->timed_out_ = true;
            beast::error_code ignored;
            self->stream_.cancel(ignored);
        });
    }

    void on_read(beast::error_code ec) {
        deadline_.cancel();
        if (timed_out_) ec = beast::error::timeout;
        if (ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
            ec == boost::asio::error::connection_reset)
            return close();
        if (ec) {
            // Answer what can be answered, then close: the stream's framing
            // cannot be trusted after a parse error.
            ApiResponse r;
            if (ec == beast::error::timeout) r = error_response(408, "request timed out");
            else if (ec == http::error::body_limit) r = error_response(413, "request body too large");
            else if (ec == http::error::header_limit) r = error_response(431, "request header too large");
            else r = error_response(400, "malformed request: " + ec.message());
            return send(std::move(r), false);
        }
        auto req = parser_->release();
        in_request_ = true;
        const bool keep_alive = req.keep_alive();
        if (access_.level == Access::Level::none)
            return send(error_response(403, "permission denied: the control socket's permissions do not admit this "
                                            "user (root, vigild's user, socket_group, read_only_group, "
                                            "[unix_http_server] chmod/chown)"),
                        false);
        if constexpr (std::is_same_v<Socket, boost::asio::ip::tcp::socket>) {
            if (!auth_ && !host_safe_without_auth(req[http::field::host]))
                return send(error_response(403, "Host '" + std::string(req[http::field::host]) +
                                                    "' is not this server's address: [inet_http_server] without "
                                                    "username and password answers only requests for its IP address "
                                                    "or localhost (a guard against DNS rebinding)"),
                            false);
        }
        Access access = access_;
        if (auth_ && !basic_auth_ok(req[http::field::authorization], *auth_)) {
            if (read_auth_ && basic_auth_ok(req[http::field::authorization], *read_auth_)) {
                access = Access::read_only(false);
            } else {
                ApiResponse r = error_response(
                    401, "authentication failed: wrong or missing username and password (HTTP basic auth)");
                r.www_authenticate = true;
                return send(std::move(r), keep_alive);
            }
        }
        // HEAD is GET without the body (uptime checks and curl -I use it):
        // routed as GET, answered with GET's status and headers.
        head_ = req.method() == http::verb::head;
        ApiRequest api_req{head_ ? std::string("GET") : std::string(req.method_string()), std::string(req.target()),
                           std::move(req.body()), access};
        if (auto it = req.find(http::field::origin); it != req.end()) api_req.origin = std::string(it->value());
        api_req.fetch_site = std::string(req["Sec-Fetch-Site"]);
        api_req.token = std::string(req["X-Vigil-Token"]);
        api_.handle(api_req, [self = shared_from_this(), keep_alive](ApiResponse r) {
            self->send(std::move(r), keep_alive);
        });
    }

    void send(ApiResponse r, bool keep_alive) {
        in_request_ = true;
        if (r.stream != ApiResponse::Stream::none && head_) {
            // A stream's head, then the end of the connection: a chunked
            // reply to HEAD has no chunks and no terminator to frame it.
            queue(stream_head(r) + "\r\n", false);
            close_when_written_ = true;
            return;
        }
        if (r.stream != ApiResponse::Stream::none) {
            in_request_ = false;
            streaming_ = true;
            return start_stream(std::move(r));
        }
        auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
        res->set(http::field::server, "vigild");
        res->set(http::field::content_type, r.content_type);
        if (!r.log_offset.empty()) res->set("X-Log-Offset", r.log_offset);
        if (r.www_authenticate) res->set(http::field::www_authenticate, "Basic realm=\"default\"");
        for (const auto& [field, value] : r.headers) res->set(field, value);
        res->keep_alive(keep_alive);
        res->body() = std::move(r.body);
        res->prepare_payload();
        auto done = [self = shared_from_this(), res, after = std::move(r.after_write)](beast::error_code ec,
                                                                                        std::size_t) {
            self->in_request_ = false;
            if (after) after();
            if (ec || !res->keep_alive()) return self->close();
            self->read();
        };
        if (head_) {
            auto sr = std::make_shared<http::response_serializer<http::string_body>>(*res);
            return http::async_write_header(stream_, *sr,
                                            [sr, done = std::move(done)](beast::error_code ec, std::size_t n) mutable {
                                                done(ec, n);
                                            });
        }
        http::async_write(stream_, *res, std::move(done));
    }

    // Streams (events, log follow) are written as HTTP chunks by hand: the
    // header once, then one chunk per event, until the client goes away.
    static std::string stream_head(const ApiResponse& r) {
        std::string head = "HTTP/1.1 200 OK\r\nServer: vigild\r\nContent-Type: " + r.content_type +
                           "\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\n";
        if (!r.log_offset.empty()) head += "X-Log-Offset: " + r.log_offset + "\r\n";
        return head;
    }

    void start_stream(ApiResponse r) {
        queue(stream_head(r) + "\r\n", false);
        if (!r.body.empty()) queue(r.body, true);
        auto weak = weak_from_this();
        if (r.stream == ApiResponse::Stream::events) {
            observer_ = sup_.subscribe([weak](const ProcessRunner& pr, const core::Decision& d) {
                if (auto self = weak.lock()) self->queue(event_line(pr, d), true);
            });
            note_observer_ = sup_.subscribe_notes(
                [weak](const std::string& name, const std::string& topic, const std::string& text, bool warning) {
                    if (auto self = weak.lock()) self->queue(note_event_line(name, topic, text, warning), true);
                });
            health_observer_ = sup_.subscribe_health(
                [weak](const ProcessRunner& pr, core::HealthStatus from, core::HealthStatus to, const std::string& detail) {
                    if (from == to) return;
                    if (auto self = weak.lock()) self->queue(health_event_line(pr, from, to, detail), true);
                });
        } else if (r.stream == ApiResponse::Stream::feed && r.feed) {
            // The operation's lines as they come; when it ends, so does the reply.
            r.feed->attach([weak](std::string line) {
                if (auto self = weak.lock()) self->queue(std::move(line), true);
            }, [weak] {
                if (auto self = weak.lock()) self->end_stream();
            });
        } else if (ProcessRunner* pr = sup_.find(r.stream_process)) {
            process_ = r.stream_process;
            const int fd = r.stream_fd;
            output_observer_ = pr->subscribe_output([weak, fd](int which, std::string_view data) {
                if (which != fd) return;
                if (auto self = weak.lock()) self->queue(std::string(data), true);
            });
        }
        watch_for_leaving();
    }

    // Notice the client leaving: end of stream or an error ends the stream.
    // Bytes are read and dropped: supervisorctl's http_client sends an extra
    // CRLF after its request, and whether it lands in the request's read or
    // arrives on its own is timing; ending the stream on it cut `tail -f`
    // after its first chunk now and then.
    void watch_for_leaving() {
        stream_.async_read_some(boost::asio::buffer(discard_),
                                [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                    if (ec) return self->close();
                                    self->watch_for_leaving();
                                });
    }

    // The last chunk, then the connection closes once everything is written.
    void end_stream() {
        queue("0\r\n\r\n", false);
        close_when_written_ = true;
        if (outbox_.empty()) close();
    }

    void queue(std::string data, bool as_chunk) {
        if (closed_) return;
        if (as_chunk) {
            char size[32];
            std::snprintf(size, sizeof size, "%zx\r\n", data.size());
            data = size + data + "\r\n";
        }
        // A client that does not read is cut off rather than buffered without end.
        if (outbox_.size() > 4096) return close();
        outbox_.push_back(std::move(data));
        if (outbox_.size() == 1) write_next();
    }

    void write_next() {
        boost::asio::async_write(stream_, boost::asio::buffer(outbox_.front()),
                                 [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                     if (ec) return self->close();
                                     self->outbox_.pop_front();
                                     if (!self->outbox_.empty()) self->write_next();
                                     else if (self->close_when_written_) self->close();
                                 });
    }

    void unsubscribe() {
        if (observer_) sup_.unsubscribe(observer_);
        if (health_observer_) sup_.unsubscribe(health_observer_);
        if (note_observer_) sup_.unsubscribe(note_observer_);
        observer_ = health_observer_ = note_observer_ = 0;
        if (output_observer_) {
            if (ProcessRunner* pr = sup_.find(process_)) pr->unsubscribe_output(output_observer_);
            output_observer_ = 0;
        }
    }

    Socket stream_;
    boost::asio::steady_timer deadline_;
    bool timed_out_ = false;
    bool in_request_ = false;  // from a whole request read until its reply is written
    bool streaming_ = false;
    ControlApi& api_;
    Supervisor& sup_;
    Access access_;
    std::optional<config::Credentials> auth_, read_auth_;
    beast::flat_buffer buffer_{16384};
    std::optional<http::request_parser<http::string_body>> parser_;
    std::deque<std::string> outbox_;
    std::array<char, 256> discard_{};
    std::uint64_t observer_ = 0;
    std::uint64_t health_observer_ = 0, note_observer_ = 0;
    std::uint64_t output_observer_ = 0;
    std::string process_;
    bool closed_ = false;
    bool head_ = false;  // the request being answered is a HEAD
    bool close_when_written_ = false;
};

ControlServer::ControlServer(boost::asio::io_context& io, ControlApi& api, Supervisor& sup)
    : io_(io), api_(api), sup_(sup), acceptor_(io), tcp_acceptor_(io), accept_pause_(io), tcp_pause_(io) {}

std::string ControlServer::listen(const std::string& path, const std::string& group, const std::string& read_group,
                                  const std::string& log_group) {
    path_ = path;
    if (std::string err = resolve_groups(group, read_group, log_group); !err.empty()) return err;
    // The file's group is the one that may connect; when two different
    // groups may (acting and reading), the file is open to all and
    // SO_PEERCRED refuses everyone else with 403.
    const std::optional<gid_t> file_group = groups_.write ? groups_.write : groups_.read;
    const bool two_groups = groups_.write && groups_.read && *groups_.write != *groups_.read;
    std::error_code fec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), fec);
    if (std::filesystem::exists(path)) {
        // Someone answering there is a live vigild; otherwise the file is a
        // leftover of a crash and can go.
        local::socket probe(io_);
        boost::system::error_code ec;
        probe.connect(local::endpoint(path), ec);
        if (!ec) return "control socket " + path + " is in use by another process";
        std::filesystem::remove(path, fec);
    }
    boost::system::error_code ec;
    acceptor_.open(local{}, ec);
    // The socket is created 0600 from the start (umask), not chmod'ed after.
    const mode_t old = ::umask(two_groups ? 0111 : file_group ? 0117 : 0177);
    if (!ec) acceptor_.bind(local::endpoint(path), ec);
    ::umask(old);
    if (!ec) acceptor_.listen(64, ec);
    if (ec) return "control socket " + path + ": " + ec.message();
    if (file_group && ::chown(path.c_str(), static_cast<uid_t>(-1), *file_group) < 0)
        return "control socket " + path + ": chown to group " + std::to_string(*file_group) + ": " +
               std::strerror(errno);
    peer_rule_ = {::geteuid(), groups_.write, static_cast<mode_t>(groups_.write ? 0660 : 0600)};
    accept();
    return {};
}

int ControlServer::unix_listener() { return acceptor_.is_open() ? acceptor_.native_handle() : -1; }

int ControlServer::tcp_listener() { return tcp_acceptor_.is_open() ? tcp_acceptor_.native_handle() : -1; }

std::string ControlServer::adopt(int fd, const std::string& path, const std::string& group,
                                 const std::string& read_group, const std::string& log_group) {
    path_ = path;
    if (std::string err = resolve_groups(group, read_group, log_group); !err.empty()) return err;
    boost::system::error_code ec;
    acceptor_.assign(local{}, fd, ec);
    if (ec) return "control socket " + path + " (carried fd " + std::to_string(fd) + "): " + ec.message();
    accept();
    return {};
}

std::string ControlServer::adopt_tcp(int fd, const config::HttpServers& http) {
    if (fd < 0) return listen_tcp(http);
    using tcp = boost::asio::ip::tcp;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0)
        return std::string("[inet_http_server] carried fd: ") + std::strerror(errno);
    boost::system::error_code ec;
    tcp_acceptor_.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) return "[inet_http_server] carried fd: " + ec.message();
    if (!http.inet_auth.empty()) tcp_auth_ = http.inet_auth;
    accept_tcp();
    return {};
}

void ControlServer::quiesce(std::function<void()> done) {
    quiescing_ = true;
    boost::system::error_code ec;
    acceptor_.cancel(ec);
    tcp_acceptor_.cancel(ec);
    accept_pause_.cancel();
    tcp_pause_.cancel();
    const auto since = std::chrono::steady_clock::now();
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [this, since, done = std::move(done), poll] {
        const auto waited = std::chrono::steady_clock::now() - since;
        bool busy = false;
        for (auto& w : sessions_)
            if (auto s = w.lock()) busy |= s->busy();
        if ((!busy && waited >= kQuiesceSettle) || waited >= kQuiesceLimit) {
            auto finish = done;
            *poll = nullptr;  // breaks the cycle through the capture
            return finish();
        }
        accept_pause_.expires_after(std::chrono::milliseconds(2));
        accept_pause_.async_wait([poll](const boost::system::error_code& e) {
            if (!e && *poll) (*poll)();
        });
    };
    (*poll)();
}

void ControlServer::resume_accepting() {
    if (!quiescing_) return;
    quiescing_ = false;
    if (acceptor_.is_open()) accept();
    if (tcp_acceptor_.is_open()) accept_tcp();
}

void ControlServer::close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    tcp_acceptor_.close(ec);
    accept_pause_.cancel();
    tcp_pause_.cancel();
    if (!path_.empty()) ::unlink(path_.c_str());
    for (auto& w : sessions_)
        if (auto s = w.lock()) s->close();
    sessions_.clear();
}

std::size_t ControlServer::live_sessions() {
    sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                   [](const std::weak_ptr<ControlSessionBase>& w) { return w.expired(); }),
                    sessions_.end());
    return sessions_.size();
}

void ControlServer::on_accept_error(const boost::system::error_code& ec) {
    if (!accept_failing_)
        spdlog::error("control socket: cannot accept a connection: {} ({} open); pausing accepts for {}ms at a time "
                      "until it works again",
                      ec.message(), live_sessions(), kAcceptPause.count());
    accept_failing_ = true;
    accept_pause_.expires_after(kAcceptPause);
    accept_pause_.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
    });
}

bool ControlServer::over_session_limit(int fd) {
    if (live_sessions() >= kMaxSessions) {
        // A short answer on a fresh socket fits its send buffer: no
        // session, no timer, the descriptor is free again at once.
        if (refused_++ == 0)
            spdlog::warn("control socket: {} connections open, the most served at once; refusing more until "
                         "some close", kMaxSessions);
        static const std::string kBusy = [] {
            const std::string body = "{\"error\":\"vigild serves at most " + std::to_string(kMaxSessions) +
                                     " control connections at once; try again\"}\n";
            return "HTTP/1.1 503 Service Unavailable\r\nServer: vigild\r\nContent-Type: application/json\r\n"
                   "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        }();
        [[maybe_unused]] auto n =
            ::send(fd, kBusy.data(), kBusy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        return true;
    }
    if (refused_ > 0 && live_sessions() < kMaxSessions / 2) {
        spdlog::info("control socket: serving again; {} connections were refused meanwhile", refused_);
        refused_ = 0;
    }
    return false;
}

void ControlServer::accept() {
    if (quiescing_) return;
    acceptor_.async_accept([this](boost::system::error_code ec, local::socket socket) {
        if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec) return on_accept_error(ec);
        if (accept_failing_) {
            spdlog::info("control socket: accepting connections again");
            accept_failing_ = false;
        }
        if (over_session_limit(socket.native_handle())) {
            boost::system::error_code ignored;
            socket.close(ignored);
            return accept();
        }
        const Access access =
            peer_access(socket.native_handle(), peer_rule_.owner, peer_rule_.group, peer_rule_.mode, groups_);
        auto session = std::make_shared<ControlSession<local::socket>>(std::move(socket), api_, sup_, access, unix_auth_);
        sessions_.push_back(session);
        session->start();
        accept();
    });
}

std::string ControlServer::listen_tcp(const config::HttpServers& http) {
    if (!http.inet) return {};
    using tcp = boost::asio::ip::tcp;
    boost::system::error_code ec;
    const std::string host = http.inet_host.empty() ? "0.0.0.0" : http.inet_host == "localhost" ? "127.0.0.1"
                                                                                                : http.inet_host;
    const auto address = boost::asio::ip::make_address(host, ec);
    if (ec) return "[inet_http_server] port: '" + http.inet_host + "' is not an IP address";
    const tcp::endpoint at(address, static_cast<unsigned short>(http.inet_port));
    tcp_acceptor_.open(at.protocol(), ec);
    if (!ec) tcp_acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) tcp_acceptor_.bind(at, ec);
    if (!ec) tcp_acceptor_.listen(64, ec);
    if (ec) return "[inet_http_server] " + host + ":" + std::to_string(http.inet_port) + ": " + ec.message();
    if (!http.inet_auth.empty()) tcp_auth_ = http.inet_auth;
    if (!http.inet_read_auth.empty()) tcp_read_auth_ = http.inet_read_auth;
    spdlog::info("inet_http_server: serving the control API on {}:{}{}", host, http.inet_port,
                 tcp_auth_ ? " (basic auth)" : " (loopback, no auth)");
    accept_tcp();
    return {};
}

void ControlServer::accept_tcp() {
    if (quiescing_) return;
    using tcp = boost::asio::ip::tcp;
    tcp_acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
        if (ec == boost::asio::error::operation_aborted || !tcp_acceptor_.is_open()) return;
        if (ec) {
            // Descriptors ran out: the connection waits in the queue a moment.
            tcp_pause_.expires_after(kAcceptPause);
            return tcp_pause_.async_wait([this](const boost::system::error_code& e) {
                if (!e) accept_tcp();
            });
        }
        if (over_session_limit(socket.native_handle())) {
            boost::system::error_code ignored;
            socket.close(ignored);
            return accept_tcp();
        }
        socket.set_option(tcp::no_delay(true), ec);
        auto session = std::make_shared<ControlSession<tcp::socket>>(std::move(socket), api_, sup_, Access::full(),
                                                                     tcp_auth_, tcp_read_auth_);
        sessions_.push_back(session);
        session->start();
        accept_tcp();
    });
}

}  // namespace vigil::supervisor
