// postgres://user@host:port/db with pg_isready's meaning: healthy when the
// server accepts connections. libpq's non-blocking connect is driven by the
// io_context on PQsocket(); the run's deadline bounds it (connect_timeout is
// ignored by PQconnectPoll, DEPENDENCIES.md).
//
// What the server answered decides, as in libpq's PQping():
//   connection made                         accepting        healthy
//   SQLSTATE 57P03 (cannot_connect_now:      starting up,     unhealthy
//     starting up, shutting down, in         rejecting
//     recovery, hot standby not ready)
//   any other server error (unknown role,    accepting        healthy
//     bad password, no such database,
//     too many clients)
//   a password was asked for and we have     accepting        healthy
//     none
//   no answer (refused, reset, timeout)      no response      unhealthy
//
// PQping() itself blocks, and the SQLSTATE of a failed connection has no
// accessor, so verbose errors are turned on: they carry "FATAL:  57P03: …"
// whatever language the server's messages are in.
#include <libpq-fe.h>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "supervisor/health/probe_base.hpp"

namespace vigil::health {
namespace {

// The first "SEVERITY:  XXXXX: " in a verbose libpq error, as {sqlstate, the
// line from the severity on}.
std::pair<std::string, std::string> find_sqlstate(const std::string& msg) {
    for (std::size_t at = msg.find(":  "); at != std::string::npos; at = msg.find(":  ", at + 1)) {
        const std::size_t code = at + 3;
        if (code + 6 > msg.size() || msg[code + 5] != ':') continue;
        bool valid = true;
        for (std::size_t i = code; i < code + 5; ++i)
            valid = valid && ((msg[i] >= '0' && msg[i] <= '9') || (msg[i] >= 'A' && msg[i] <= 'Z'));
        if (!valid) continue;
        std::size_t line = msg.rfind(' ', at);  // the severity word starts after the last space before it
        line = line == std::string::npos ? 0 : line + 1;
        const std::size_t end = msg.find('\n', code);
        return {msg.substr(code, 5), msg.substr(line, end == std::string::npos ? end : end - line)};
    }
    return {};
}

class PostgresProbe final : public ProbeBase {
public:
    PostgresProbe(asio::io_context& io, const config::HealthCheck& hc)
        : ProbeBase(io, hc.timeout), host_(hc.host), port_(std::to_string(hc.port)), user_(hc.user),
          database_(hc.database), port_number_(hc.port) {}

private:
    struct Conn {
        explicit Conn(asio::io_context& io) : fd(io) {}
        ~Conn() { close(); }
        // asio must never close libpq's socket, and PQconnectPoll may close
        // it and open another under the same number: asio lets go of it
        // before every poll and takes it again after.
        void release() noexcept {
            if (fd.is_open()) fd.release();
        }
        void close() noexcept {
            release();
            if (pg) PQfinish(pg);
            pg = nullptr;
        }
        PGconn* pg = nullptr;
        asio::posix::stream_descriptor fd;
    };

    void start() override {
        resolve(host_, port_number_,
                [this](const boost::system::error_code& ec, const Endpoints& endpoints) {
                    if (ec) return finish(false, "cannot resolve " + host_ + ": " + ec.message());
                    connect(endpoints);
                });
    }

    void connect(const Endpoints& endpoints) {
        // Addresses, not names: libpq resolves host names synchronously.
        std::string hosts, addrs;
        for (const auto& e : endpoints) {
            if (!addrs.empty()) {
                hosts += ',';
                addrs += ',';
            }
            hosts += host_;
            addrs += e.endpoint().address().to_string();
        }
        const char* keys[] = {"host",       "hostaddr",         "port",          "user", "dbname", "sslmode",
                              "gssencmode", "application_name", "client_encoding", nullptr};
        const char* values[] = {hosts.c_str(),   addrs.c_str(), port_.c_str(), user_.c_str(), database_.c_str(),
                                "disable",       "disable",     "vigil-health", "UTF8",        nullptr};
        conn_ = std::make_shared<Conn>(io_);
        conn_->pg = PQconnectStartParams(keys, values, 0);
        if (!conn_->pg) return finish(false, "libpq: out of memory");
        if (PQstatus(conn_->pg) == CONNECTION_BAD) return judge_failure(*conn_);
        PQsetErrorVerbosity(conn_->pg, PQERRORS_VERBOSE);
        phase_ = "connecting";
        step(conn_, PGRES_POLLING_WRITING);
    }

    void step(const std::shared_ptr<Conn>& c, PostgresPollingStatusType st) {
        switch (st) {
            case PGRES_POLLING_OK: return finish(true, "accepting connections");
            case PGRES_POLLING_FAILED: return judge_failure(*c);
            case PGRES_POLLING_READING:
            case PGRES_POLLING_WRITING: break;
            default: return finish(false, "libpq: unexpected polling state " + std::to_string(st));
        }
        if (PQstatus(c->pg) != CONNECTION_STARTED) phase_ = "waiting for the server";
        const int fd = PQsocket(c->pg);
        if (fd < 0) return finish(false, "libpq lost its socket");
        boost::system::error_code ec;
        c->fd.assign(fd, ec);
        if (ec) return finish(false, "watching the libpq socket: " + ec.message());
        const auto want = st == PGRES_POLLING_READING ? asio::posix::stream_descriptor::wait_read
                                                      : asio::posix::stream_descriptor::wait_write;
        c->fd.async_wait(want, guard([this, c](const boost::system::error_code& e) {
                             c->release();
                             if (e) return finish(false, "waiting on the libpq socket: " + e.message());
                             step(c, PQconnectPoll(c->pg));
                         }));
    }

    void judge_failure(Conn& c) {
        const std::string msg = PQerrorMessage(c.pg);
        const auto [sqlstate, line] = find_sqlstate(msg);
        if (sqlstate == "57P03") return finish(false, "not accepting connections: " + one_line(line));
        if (!sqlstate.empty()) return finish(true, "accepting connections (" + one_line(line) + ")");
        if (PQconnectionNeedsPassword(c.pg)) return finish(true, "accepting connections (password required)");
        finish(false, one_line(msg));
    }

    void abort() noexcept override {
        if (conn_) conn_->close();
    }

    const std::string host_, port_, user_, database_;
    const std::uint16_t port_number_;
    std::shared_ptr<Conn> conn_;
};

}  // namespace

std::shared_ptr<Probe> make_postgres_probe(asio::io_context& io, const config::HealthCheck& hc) {
    return std::make_shared<PostgresProbe>(io, hc);
}

}  // namespace vigil::health
