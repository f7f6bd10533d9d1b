#include "supervisor/replication/pg_sql.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "supervisor/core/pg_handshake.hpp"
#include "supervisor/core/pg_query.hpp"

namespace vigil::supervisor::replication {
namespace {

namespace pg = core::pg;

// A socket closed on every path out.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Connects within `timeout_ms`, then leaves the socket blocking with
// send and receive timeouts of `io_timeout_s`.
std::string connect_to(const PgTarget& t, Fd& s, int timeout_ms, int io_timeout_s) {
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

// Reads messages up to ReadyForQuery. The first error is kept (the server
// still ends with ReadyForQuery); rows go to `rows` when given.
std::string until_ready(int fd, pg::QueryReader& in, Rows* rows) {
    std::string error;
    pg::ServerMessage m;
    char buf[16384];
    for (;;) {
        while (in.next(m)) {
            switch (m.kind) {
                case pg::ServerMessage::Kind::ready: return error;
                case pg::ServerMessage::Kind::error:
                    if (error.empty()) error = m.text;
                    break;
                case pg::ServerMessage::Kind::auth_request:
                    // kind = postgres servers are initialised with trust for
                    // local connections (config/kinds.cpp); a server that asks
                    // for a password is not one vigild made.
                    return "the server asks for authentication (method " + std::to_string(m.code) +
                           "): vigild's replication speaks to trust-authenticated local servers only";
                case pg::ServerMessage::Kind::row:
                    if (rows) rows->push_back(std::move(m.row));
                    break;
                default: break;
            }
        }
        if (in.bad()) return in.why_bad();
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return "the server did not answer in time";
        if (n < 0) return std::string("recv: ") + std::strerror(errno);
        if (n == 0) return error.empty() ? "the server closed the connection" : error;
        in.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
}

}  // namespace

std::string standby_name_literal(const std::string& name) {
    std::string out = "'\"";
    for (char c : name) {
        if (c == '"') out += "\"\"";
        else if (c == '\'') out += "''";
        else out += c;
    }
    return out + "\"'";
}

std::string pg_exec(const PgTarget& t, const std::vector<std::string>& statements, Rows* rows, int timeout_s) {
    Fd s;
    if (auto e = connect_to(t, s, 2000, timeout_s + 2); !e.empty()) return e;
    pg::QueryReader in;
    std::string e = send_all(s.fd, pg::startup_message(t.user, "postgres", "vigild"));
    if (e.empty()) e = until_ready(s.fd, in, nullptr);
    if (e.empty()) {
        e = send_all(s.fd, pg::query_message("SET statement_timeout = " + std::to_string(timeout_s * 1000)));
        if (e.empty()) e = until_ready(s.fd, in, nullptr);
    }
    for (std::size_t i = 0; e.empty() && i < statements.size(); ++i) {
        const bool last = i + 1 == statements.size();
        if (rows && last) rows->clear();
        e = send_all(s.fd, pg::query_message(statements[i]));
        if (e.empty()) e = until_ready(s.fd, in, last ? rows : nullptr);
    }
    send_all(s.fd, pg::kTerminate);
    return e;
}

SqlWorker::SqlWorker() : thread_([this] { run(); }) {}

SqlWorker::~SqlWorker() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        jobs_.clear();
    }
    cv_.notify_one();
    thread_.join();
}

void SqlWorker::post(std::function<void()> job) {
    {
        std::lock_guard lock(mu_);
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
}

void SqlWorker::run() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (stop_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

}  // namespace vigil::supervisor::replication
