#include "tests/health/http_server.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <optional>
#include <stdexcept>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace vigil::health::test {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::use_awaitable;

namespace {

constexpr std::uint64_t kHugeBody = 64ull * 1024 * 1024;

// A throwaway P-256 key and a self-signed certificate for CN=localhost.
void use_self_signed(ssl::context& ctx) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    if (!key || !cert) throw std::runtime_error("cannot make a test certificate");
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    const bool ok = SSL_CTX_use_certificate(ctx.native_handle(), cert) == 1 &&
                    SSL_CTX_use_PrivateKey(ctx.native_handle(), key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) throw std::runtime_error("cannot load the test certificate");
}

std::string reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 404: return "Not Found";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

}  // namespace

struct TestHttpServer::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::io_context& io, Tls tls_mode)
        : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), forever(io) {
        forever.expires_at(asio::steady_timer::time_point::max());
        if (tls_mode == Tls::none) return;
        tls.emplace(ssl::context::tls_server);
        use_self_signed(*tls);
        if (tls_mode == Tls::legacy_only) {
            SSL_CTX_set_security_level(tls->native_handle(), 0);
            SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_VERSION);
            SSL_CTX_set_max_proto_version(tls->native_handle(), TLS1_1_VERSION);
            SSL_CTX_set_cipher_list(tls->native_handle(), "DEFAULT:@SECLEVEL=0");
        }
    }

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        for (;;) {
            auto sock = std::make_shared<tcp::socket>(co_await acceptor.async_accept(use_awaitable));
            live.push_back(sock);
            asio::co_spawn(acceptor.get_executor(), session(sock), asio::detached);
        }
    }

    asio::awaitable<void> session(std::shared_ptr<tcp::socket> sock) {
        auto self = shared_from_this();
        try {
            if (tls) {
                ssl::stream<tcp::socket&> stream(*sock, *tls);
                co_await stream.async_handshake(ssl::stream_base::server, use_awaitable);
                co_await serve(stream);
            } else {
                co_await serve(*sock);
            }
        } catch (const std::exception&) {
            // The client went away or the test ended: nothing to report.
        }
        boost::system::error_code ignored;
        sock->close(ignored);
    }

    template <class Stream>
    asio::awaitable<void> serve(Stream& s) {
        std::string req;
        co_await asio::async_read_until(s, asio::dynamic_buffer(req, 65536), "\r\n\r\n", use_awaitable);
        ++requests;
        last_request = req;
        switch (mode) {
            case Mode::respond: {
                const std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
                                      "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                                      "\r\nConnection: close\r\n\r\n" + body;
                co_await asio::async_write(s, asio::buffer(r), use_awaitable);
                break;
            }
            case Mode::hang: co_await forever.async_wait(use_awaitable); break;
            case Mode::huge: {
                const std::string head =
                    "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kHugeBody) + "\r\nConnection: close\r\n\r\n";
                co_await asio::async_write(s, asio::buffer(head), use_awaitable);
                static const std::string chunk(64 * 1024, 'x');
                for (std::uint64_t sent = 0; sent < kHugeBody; sent += chunk.size()) {
                    co_await asio::async_write(s, asio::buffer(chunk), use_awaitable);
                    body_bytes += chunk.size();
                }
                break;
            }
            case Mode::garbage: {
                std::string noise = "\x7f" "ELF garbage\x01\x02";
                for (int i = 0; i < 4096; ++i) noise.push_back(static_cast<char>((i * 131 + 7) % 256));
                co_await asio::async_write(s, asio::buffer(noise), use_awaitable);
                break;
            }
            case Mode::close: break;
        }
    }

    void shutdown() {
        boost::system::error_code ignored;
        acceptor.close(ignored);
        forever.cancel();
        for (auto& weak : live)
            if (auto sock = weak.lock()) sock->close(ignored);
    }

    tcp::acceptor acceptor;
    asio::steady_timer forever;
    std::optional<ssl::context> tls;
    Mode mode = Mode::respond;
    int status = 200;
    std::string body = "ok";
    std::size_t requests = 0;
    std::uint64_t body_bytes = 0;
    std::string last_request;
    std::vector<std::weak_ptr<tcp::socket>> live;
};

TestHttpServer::TestHttpServer(asio::io_context& io, Tls tls) : impl_(std::make_shared<Impl>(io, tls)) {
    asio::co_spawn(io, impl_->accept_loop(), asio::detached);
}

TestHttpServer::~TestHttpServer() { impl_->shutdown(); }

std::uint16_t TestHttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }
void TestHttpServer::set_mode(Mode mode) { impl_->mode = mode; }
void TestHttpServer::respond(int status, std::string body) {
    impl_->mode = Mode::respond;
    impl_->status = status;
    impl_->body = std::move(body);
}
std::size_t TestHttpServer::requests() const { return impl_->requests; }
std::uint64_t TestHttpServer::body_bytes_sent() const { return impl_->body_bytes; }
std::string TestHttpServer::last_request() const { return impl_->last_request; }

}  // namespace vigil::health::test
