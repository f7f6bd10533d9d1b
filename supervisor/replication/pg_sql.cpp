#include "supervisor/replication/pg_sql.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "supervisor/core/pg_handshake.hpp"
#include "supervisor/core/pg_query.hpp"
#include "supervisor/replication/blocking_socket.hpp"

namespace vigil::supervisor::replication {
namespace {

namespace pg = core::pg;

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

std::string pg_exec(const Target& t, const std::vector<std::string>& statements, Rows* rows, int timeout_s) {
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

}  // namespace vigil::supervisor::replication
