// TLS termination: 1.0/1.1 refused, 1.2/1.3 accepted, X-Forwarded-Proto,
// and a certificate reload on SIGHUP that keeps open connections working.
#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <set>
#include <map>

#include "harness.hpp"

using namespace proxytest;

namespace {

struct TlsConn {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    int fd = -1;
    ~TlsConn() {
        if (ssl) SSL_free(ssl);
        if (ctx) SSL_CTX_free(ctx);
        if (fd >= 0) ::close(fd);
    }
    std::string fingerprint() const {
        X509* cert = SSL_get1_peer_certificate(ssl);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        X509_digest(cert, EVP_sha256(), md, &n);
        X509_free(cert);
        return std::string(reinterpret_cast<char*>(md), n);
    }
    // One request, one Content-Length response (the test backend's).
    std::string get(const std::string& path) {
        std::string req = get_request(path);
        if (SSL_write(ssl, req.data(), static_cast<int>(req.size())) <= 0) return {};
        std::string buf;
        char tmp[4096];
        for (;;) {
            auto end = buf.find("\r\n\r\n");
            if (end != std::string::npos) {
                auto cl = buf.find("Content-Length: ");
                if (cl != std::string::npos) {
                    std::size_t len = std::stoul(buf.substr(cl + 16));
                    if (buf.size() >= end + 4 + len) return buf.substr(0, end + 4 + len);
                }
            }
            int n = SSL_read(ssl, tmp, sizeof tmp);
            if (n <= 0) return buf;
            buf.append(tmp, static_cast<std::size_t>(n));
        }
    }
};

// Handshake with exactly one protocol version; nullptr when refused.
std::unique_ptr<TlsConn> tls_connect(int port, int version) {
    auto c = std::make_unique<TlsConn>();
    c->ctx = SSL_CTX_new(TLS_client_method());
    // Let the client offer old versions at all (OpenSSL 3 refuses them by
    // default): the point is that the server refuses them.
    SSL_CTX_set_security_level(c->ctx, 0);
    SSL_CTX_set_cipher_list(c->ctx, "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(c->ctx, version);
    SSL_CTX_set_max_proto_version(c->ctx, version);
    c->fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return nullptr;
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        return nullptr;
    }
    return c;
}

void gen_cert(const std::string& cert, const std::string& key) {
    Child gen({VIGIL_PROXY_PATH, "--gen-cert", cert, key});
    int st = gen.wait_exit(10000ms);
    REQUIRE(st == 0);
}

std::string tls_config(const Backend& a) {
    return "[upstream:web]\nservers = " + a.address() +
           "\n\n[proxy:secure]\nlisten = 127.0.0.1:{PORT}\ntls_cert = {DIR}/cert.pem\ntls_key = {DIR}/key.pem\nroute = / web\n";
}

}  // namespace

TEST_CASE("TLS 1.0 and 1.1 are refused, 1.2 and 1.3 accepted", "[tls]") {
    Backend a = start_backend("a");
    TempDir certs;
    // The proxy's temp dir is made by start_proxy; generate into it via {DIR}.
    auto p = [&] {
        // Certificate paths must exist before the proxy starts: generate in a
        // dir we know, then point the config at it.
        gen_cert(certs.path + "/cert.pem", certs.path + "/key.pem");
        std::string cfg = tls_config(a);
        for (std::size_t at; (at = cfg.find("{DIR}")) != std::string::npos;) cfg.replace(at, 5, certs.path);
        return start_proxy(cfg, {"--access-log", "off"});
    }();
    CHECK(tls_connect(p->port, TLS1_VERSION) == nullptr);
    CHECK(tls_connect(p->port, TLS1_1_VERSION) == nullptr);
    auto c12 = tls_connect(p->port, TLS1_2_VERSION);
    REQUIRE(c12);
    CHECK(std::string(SSL_get_version(c12->ssl)) == "TLSv1.2");
    CHECK(c12->get("/x").find("HTTP/1.1 200") == 0);
    auto c13 = tls_connect(p->port, TLS1_3_VERSION);
    REQUIRE(c13);
    CHECK(std::string(SSL_get_version(c13->ssl)) == "TLSv1.3");
    auto echo = c13->get("/echo");
    CHECK(echo.find("X-Forwarded-Proto: https\r\n") != std::string::npos);
}

TEST_CASE("SIGHUP reloads the certificate and open connections keep working", "[tls]") {
    Backend a = start_backend("a");
    TempDir certs;
    gen_cert(certs.path + "/cert.pem", certs.path + "/key.pem");
    std::string cfg = tls_config(a);
    for (std::size_t at; (at = cfg.find("{DIR}")) != std::string::npos;) cfg.replace(at, 5, certs.path);
    auto p = start_proxy(cfg, {"--access-log", "off"});

    auto old_conn = tls_connect(p->port, TLS1_3_VERSION);
    REQUIRE(old_conn);
    const std::string old_fp = old_conn->fingerprint();
    REQUIRE(old_conn->get("/before").find("HTTP/1.1 200") == 0);

    gen_cert(certs.path + "/cert.pem", certs.path + "/key.pem");
    p->proc->signal(SIGHUP);
    REQUIRE(p->proc->wait_line("TLS certificate reloaded"));

    // The reload is posted to each worker; a fresh connection may race it by
    // a few microseconds, so allow a couple of attempts (each one an event).
    std::string new_fp;
    for (int i = 0; i < 20 && (new_fp.empty() || new_fp == old_fp); ++i) {
        auto c = tls_connect(p->port, TLS1_2_VERSION);
        REQUIRE(c);
        new_fp = c->fingerprint();
    }
    CHECK(new_fp != old_fp);
    CHECK(old_conn->get("/after").find("HTTP/1.1 200") == 0);

    // A broken certificate file is refused and the current one kept.
    { std::ofstream(certs.path + "/cert.pem") << "garbage"; }
    p->proc->signal(SIGHUP);
    REQUIRE(p->proc->wait_line("TLS reload failed"));
    auto c = tls_connect(p->port, TLS1_3_VERSION);
    REQUIRE(c);
    CHECK(c->fingerprint() == new_fp);
}
