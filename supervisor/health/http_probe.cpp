// http:// and https://: GET the path, healthy on a status below 400 (curl
// -f), or on exactly `expect_status`, with `expect_body` in the body when set.
// The only file of vigil_health with Beast (~40 s to compile). TLS goes
// through vigil-tls.so, loaded on the first https check
// (supervisor/tls/tls_client.hpp).
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/optional/optional.hpp>
#include <boost/asio/write.hpp>

#include <type_traits>

#include "supervisor/health/probe_base.hpp"
#include "supervisor/tls/tls_client.hpp"

namespace vigil::health {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

// Health endpoints answer in a few bytes; anything bigger is a
// misconfigured check (or not the service we think), and must not cost
// memory: the parser stops at these limits and the check fails.
constexpr std::uint32_t kMaxHeader = 16 * 1024;
constexpr std::uint64_t kMaxBody = 64 * 1024;

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

class HttpProbe final : public ProbeBase {
public:
    HttpProbe(asio::io_context& io, const config::HealthCheck& hc)
        : ProbeBase(io, hc.timeout),
          https_(hc.kind == config::HealthKind::https),
          host_(hc.host),
          port_(hc.port),
          expect_status_(hc.expect_status),
          expect_body_(hc.expect_body) {
        const bool v6 = host_.find(':') != std::string::npos;
        std::string authority = v6 ? "[" + host_ + "]" : host_;
        if (port_ != (https_ ? 443 : 80)) authority += ":" + std::to_string(port_);
        // The same bytes every run, so they are made once (as Beast's
        // serializer would write them, fields in this order).
        request_ = "GET " + (hc.path.empty() ? std::string("/") : hc.path) + " HTTP/1.1\r\n" +
                   "Host: " + authority + "\r\n" +
                   "User-Agent: vigil-health/1\r\n"
                   "Accept: */*\r\n"
                   "Connection: close\r\n"
                   "\r\n";
    }

private:
    // Beast's response parser (its status line, field and chunk grammar,
    // its header and body limits) keeping only what judge() reads: the
    // status, the reason and the body, in strings the connection reuses.
    // http::response_parser would also build a basic_fields of every header,
    // a heap block each.
    class ResponseParser final : public http::basic_parser<false> {
    public:
        ResponseParser(std::string& reason, std::string& body) : reason_(reason), body_(body) {
            header_limit(kMaxHeader);
            body_limit(kMaxBody);
        }
        unsigned status() const noexcept { return status_; }
        // As http::response's reason(): the obsolete phrase for the status
        // when the server sent none.
        std::string_view reason() const noexcept {
            if (!reason_.empty()) return reason_;
            const auto r = http::obsolete_reason(static_cast<http::status>(status_));
            return {r.data(), r.size()};
        }
        const std::string& body() const noexcept { return body_; }

    private:
        void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                             boost::system::error_code&) override {}
        void on_response_impl(int code, beast::string_view reason, int, boost::system::error_code&) override {
            status_ = static_cast<unsigned>(code);
            reason_.assign(reason.data(), reason.size());
        }
        void on_field_impl(http::field, beast::string_view, beast::string_view, boost::system::error_code&) override {}
        void on_header_impl(boost::system::error_code&) override {}
        void on_body_init_impl(const boost::optional<std::uint64_t>& length, boost::system::error_code&) override {
            // Within body_limit: the parser has checked a Content-Length.
            if (length) body_.reserve(static_cast<std::size_t>(*length));
        }
        std::size_t on_body_impl(beast::string_view s, boost::system::error_code&) override {
            body_.append(s.data(), s.size());
            return s.size();
        }
        void on_chunk_header_impl(std::uint64_t, beast::string_view, boost::system::error_code&) override {}
        std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, boost::system::error_code&) override {
            body_.append(s.data(), s.size());
            return s.size();
        }
        void on_finish_impl(boost::system::error_code&) override {}

        unsigned status_ = 0;
        std::string& reason_;
        std::string& body_;
    };

    // Per run, held by its handlers (see SocketProbe in socket_probes.cpp).
    // A run reuses the previous run's, once nothing else holds it.
    struct Conn {
        explicit Conn(asio::io_context& io) : socket(io), buffer(kMaxHeader + kMaxBody) {}
        void reset() {
            tls.reset();
            prepare_connection(socket, parked);
            parked = false;
            // A big answer's storage is not kept for the next run.
            if (buffer.capacity() > kKeep) buffer = beast::flat_buffer(kMaxHeader + kMaxBody);
            buffer.clear();
            if (body.capacity() > kKeep) std::string().swap(body);
            body.clear();
            reason.clear();
            parser.emplace(reason, body);
        }
        static constexpr std::size_t kKeep = 4096;
        tcp::socket socket;
        std::optional<tls::TlsClientStream> tls;  // over `socket`, for https
        beast::flat_buffer buffer;
        std::string reason, body;
        std::optional<ResponseParser> parser;
        bool parked = false;  // see SocketProbe::Conn
    };

    std::shared_ptr<Conn>& next_conn() {
        if (!conn_ || conn_.use_count() != 1) conn_ = std::make_shared<Conn>(io_);
        conn_->reset();
        return conn_;
    }

    void start() override {
        resolve(host_, port_, [this](const boost::system::error_code& ec) {
            if (ec) return finish(false, "cannot resolve " + host_ + ": " + ec.message());
            phase_ = "connecting";
            next_conn();
            connect_lean(conn_->socket,
                         guard([this, c = conn_](const boost::system::error_code& e, const tcp::endpoint&) {
                             if (e) return finish(false, "connect to " + host_ + ":" + std::to_string(port_) + ": " +
                                                             e.message());
                             if (https_) return handshake(c);
                             send(c, c->socket);
                         }));
        });
    }

    void handshake(const std::shared_ptr<Conn>& c) {
        phase_ = "TLS handshake";
        std::string error;
        const vigil_tls_api* api = tls::client_api(error);
        if (!api) return finish(false, error);
        boost::system::error_code ec;
        c->tls.emplace(*api, c->socket, is_ip_literal(host_) ? nullptr : host_.c_str(), ec);  // SNI for names
        if (ec) return finish(false, "TLS: " + error_text(*c, ec));
        c->tls->async_handshake(guard([this, c](const boost::system::error_code& e) {
            if (e) return finish(false, e.category() == tls::plugin_category() ? error_text(*c, e)
                                                                               : "TLS handshake: " + e.message());
            send(c, *c->tls);
        }));
    }

    // The plugin's own words for its failures ("TLS handshake: … wrong
    // version number"), asio's for the rest.
    static std::string error_text(const Conn& c, const boost::system::error_code& e) {
        if (c.tls && e.category() == tls::plugin_category()) return c.tls->last_error();
        return e.message();
    }

    template <class Stream>
    void send(const std::shared_ptr<Conn>& c, Stream& stream) {
        phase_ = "sending the request";
        std::size_t sent = 0;
        if constexpr (std::is_same_v<Stream, tcp::socket>) {
            // A few hundred bytes into the empty send buffer of a socket
            // just connected: written at once (it is non-blocking), with no
            // trip through the event loop; asio's write would try the same
            // first.
            boost::system::error_code e;
            sent = stream.write_some(asio::buffer(request_), e);
            if (e == asio::error::would_block || e == asio::error::try_again) {
                sent = 0;
            } else if (e) {
                return finish(false, "sending the request: " + error_text(*c, e));
            }
            if (sent == request_.size()) return receive(c, stream);
        }
        asio::async_write(stream, asio::buffer(request_) + sent,
                          guard([this, c, &stream](const boost::system::error_code& e, std::size_t) {
                              if (e) return finish(false, "sending the request: " + error_text(*c, e));
                              receive(c, stream);
                          }));
    }

    template <class Stream>
    void receive(const std::shared_ptr<Conn>& c, Stream& stream) {
        phase_ = "waiting for the response";
        read_more(c, stream);
    }

    // http::async_read(stream, buffer, parser) without its composed
    // operations: read, feed Beast's parser (and its limits), until it is
    // done or fails. The same steps and errors as Beast's read_some.
    template <class Stream>
    void read_more(const std::shared_ptr<Conn>& c, Stream& stream) {
        auto& b = c->buffer;
        const std::size_t size = beast::read_size(b, 65536);
        if (size == 0) return judge(*c, http::error::buffer_overflow);
        // (Not async_wait + read_some: a wait is never speculative, and
        // asio re-arms epoll for it, one epoll_ctl more per check.)
        stream.async_read_some(b.prepare(size),
                               guard([this, c, &stream](const boost::system::error_code& e, std::size_t n) {
                                   on_read(c, stream, e, n);
                               }));
    }

    template <class Stream>
    void on_read(const std::shared_ptr<Conn>& c, Stream& stream, boost::system::error_code ec, std::size_t n) {
        auto& b = c->buffer;
        auto& p = *c->parser;
        b.commit(n);
        if (ec == asio::error::eof) {
            if (!p.got_some()) return judge(*c, http::error::end_of_stream);
            ec = {};
            p.put_eof(ec);
            return judge(*c, ec);
        }
        if (ec) return judge(*c, ec);
        while (b.size() > 0) {
            b.consume(p.put(b.data(), ec));
            if (ec == http::error::need_more) break;
            if (ec || p.is_done()) return judge(*c, ec);
        }
        read_more(c, stream);
    }

    void judge(Conn& c, const boost::system::error_code& e) {
        if (e == http::error::body_limit)
            return finish(false, "response body larger than " + std::to_string(kMaxBody / 1024) + " KiB");
        if (e == http::error::header_limit || e == http::error::buffer_overflow)
            return finish(false, "response header larger than " + std::to_string(kMaxHeader / 1024) + " KiB");
        if (e == http::error::end_of_stream) return finish(false, "connection closed before a response");
        if (e == http::error::partial_message) return finish(false, "connection closed in the middle of the response");
        if (e.category() == http::make_error_code(http::error::bad_version).category())
            return finish(false, "not an HTTP response (" + e.message() + ")");
        if (e) return finish(false, "reading the response: " + error_text(c, e));

        const auto& res = *c.parser;
        const unsigned status = res.status();
        std::string detail = "HTTP " + std::to_string(status);
        if (!res.reason().empty()) detail += " " + one_line(res.reason(), 60);
        const bool status_ok = expect_status_ > 0 ? status == static_cast<unsigned>(expect_status_) : status < 400;
        if (!status_ok) {
            if (!res.body().empty()) detail += ": " + one_line(res.body(), 120);
            if (expect_status_ > 0) detail += " (expected " + std::to_string(expect_status_) + ")";
            return finish(false, detail);
        }
        if (!expect_body_.empty() && res.body().find(expect_body_) == std::string::npos)
            return finish(false, detail + ", body lacks \"" + one_line(expect_body_, 60) + "\"");
        finish(true, detail);
    }

    void abort(bool passed) noexcept override {
        if (!conn_) return;
        // No TLS close_notify: the check is over, and a server that does
        // not answer it would only delay the close. A plain connection of a
        // run that passed is parked for the next one.
        conn_->parked = end_connection(conn_->socket, passed && !conn_->tls);
    }

    const bool https_;
    const std::string host_;
    const std::uint16_t port_;
    const int expect_status_;
    const std::string expect_body_;
    std::string request_;
    std::shared_ptr<Conn> conn_;
};

}  // namespace

std::shared_ptr<Probe> make_http_probe(asio::io_context& io, const config::HealthCheck& hc) {
    return std::make_shared<HttpProbe>(io, hc);
}

}  // namespace vigil::health
