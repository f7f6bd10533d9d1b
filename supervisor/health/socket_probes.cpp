// tcp:// (the connect succeeds) and redis:// (PING answers PONG): both a
// plain socket, a few bytes each way.
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include "supervisor/health/socket_probe.hpp"

namespace vigil::health {

std::string endpoint_text(const tcp::endpoint& ep) {
    const auto a = ep.address();
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

namespace {

class TcpProbe final : public SocketProbe {
public:
    using SocketProbe::SocketProbe;

private:
    void start() override {
        connect([this](const tcp::endpoint& ep) {
            // The same address every second: its text is made once.
            if (ep != detail_ep_ || detail_.empty()) {
                detail_ = "connected to " + endpoint_text(ep);
                detail_ep_ = ep;
            }
            finish(true, detail_);
        });
    }

    tcp::endpoint detail_ep_;
    std::string detail_;
};

// RESP PING on a raw socket: hiredis's async context cannot be given a
// deadline and frees itself on errors (docs/dependencies.md), and a probe needs
// one request and one line.
class RedisProbe final : public SocketProbe {
public:
    using SocketProbe::SocketProbe;

private:
    static constexpr std::size_t kMaxReply = 512;

    void start() override {
        connect([this](const tcp::endpoint&) {
            phase_ = "sending PING";
            static constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";
            asio::async_write(conn_->socket, asio::buffer(kPing.data(), kPing.size()),
                              guard([this, c = conn_](const boost::system::error_code& ec, std::size_t) {
                                  if (ec) return finish(false, "sending PING: " + ec.message());
                                  read_reply();
                              }));
        });
    }

    void read_reply() {
        phase_ = "waiting for the reply";
        asio::async_read_until(conn_->socket, asio::dynamic_buffer(conn_->reply, kMaxReply), "\r\n",
                               guard([this, c = conn_](const boost::system::error_code& ec, std::size_t n) {
                                   if (ec == asio::error::not_found)
                                       return finish(false, "reply longer than " + std::to_string(kMaxReply) +
                                                                " bytes without a line end");
                                   if (ec == asio::error::eof)
                                       return finish(false, "connection closed before a reply" +
                                                                (c->reply.empty() ? "" : ": " + one_line(c->reply)));
                                   if (ec) return finish(false, "reading the reply: " + ec.message());
                                   judge(std::string_view(c->reply).substr(0, n - 2));
                               }));
    }

    void judge(std::string_view line) {
        if (line == "+PONG") return finish(true, "PONG");
        if (line.starts_with("-")) {
            const std::string text = one_line(line.substr(1));
            // Like pg_isready: a server that demands a password is up and
            // accepting connections; the probe just has none to give.
            if (line.starts_with("-NOAUTH") || line.starts_with("-WRONGPASS"))
                return finish(true, "accepting connections (" + text + ")");
            // LOADING (reading its AOF/RDB), MASTERDOWN, BUSY …: up but not serving.
            return finish(false, text);
        }
        finish(false, "unexpected reply: " + one_line(line, 80));
    }
};

}  // namespace

std::shared_ptr<Probe> make_tcp_probe(asio::io_context& io, const config::HealthCheck& hc) {
    return std::make_shared<TcpProbe>(io, hc);
}

std::shared_ptr<Probe> make_redis_probe(asio::io_context& io, const config::HealthCheck& hc) {
    return std::make_shared<RedisProbe>(io, hc);
}

}  // namespace vigil::health
