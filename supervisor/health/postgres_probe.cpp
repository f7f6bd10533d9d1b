// postgres://user@host:port/db with pg_isready's meaning: healthy when the
// server accepts connections. The probe speaks the startup handshake itself
// (supervisor/core/pg_handshake.hpp judges the answer) rather than through
// libpq: libpq's connect needs its own socket dance around asio, ignores
// connect_timeout in PQconnectPoll, and costs vigild some twenty shared
// libraries. No SSLRequest is sent, as with sslmode=disable.
#include <boost/asio/write.hpp>

#include "supervisor/core/pg_handshake.hpp"
#include "supervisor/health/socket_probe.hpp"

namespace vigil::health {
namespace {

namespace pg = core::pg;

class PostgresProbe final : public SocketProbe {
public:
    PostgresProbe(asio::io_context& io, const config::HealthCheck& hc)
        : SocketProbe(io, hc), startup_(pg::startup_message(hc.user, hc.database, "vigil-health")) {}

private:
    void start() override {
        connect([this](const tcp::endpoint&) {
            phase_ = "sending the startup message";
            boost::system::error_code ignored;
            conn_->socket.set_option(tcp::no_delay(true), ignored);
            asio::async_write(conn_->socket, asio::buffer(startup_),
                              guard([this, c = conn_](const boost::system::error_code& ec, std::size_t) {
                                  if (ec) return finish(false, "sending the startup message: " + ec.message());
                                  phase_ = "waiting for the server";
                                  reader_ = {};
                                  read(c);
                              }));
        });
    }

    void read(const std::shared_ptr<Conn>& c) {
        c->reply.resize(kChunk);
        c->socket.async_read_some(
            asio::buffer(c->reply), guard([this, c](const boost::system::error_code& ec, std::size_t n) {
                if (ec == asio::error::eof) return finish(false, "connection closed before an answer");
                if (ec) return finish(false, "reading the answer: " + ec.message());
                const pg::Judgement j = reader_.feed(std::string_view(c->reply).substr(0, n));
                if (j.verdict == pg::Verdict::need_more) return read(c);
                close_politely(*c, j.send_terminate);
                finish(j.verdict == pg::Verdict::accepting, one_line(j.detail));
            }));
    }

    // A reset would make the server log "connection reset by peer" at every
    // probe; a Terminate and a FIN end the session as psql does. Five bytes
    // into an empty send buffer never block.
    static void close_politely(Conn& c, bool terminate) noexcept {
        boost::system::error_code ignored;
        if (terminate) {
            c.socket.non_blocking(true, ignored);
            c.socket.write_some(asio::buffer(pg::kTerminate.data(), pg::kTerminate.size()), ignored);
        }
        c.socket.shutdown(tcp::socket::shutdown_both, ignored);
        c.socket.close(ignored);
    }

    static constexpr std::size_t kChunk = 1024;

    const std::string startup_;
    pg::HandshakeReader reader_;
};

}  // namespace

std::shared_ptr<Probe> make_postgres_probe(asio::io_context& io, const config::HealthCheck& hc) {
    return std::make_shared<PostgresProbe>(io, hc);
}

}  // namespace vigil::health
