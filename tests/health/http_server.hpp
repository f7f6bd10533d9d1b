// A small HTTP(S) server on the test's io_context that a test switches
// between answers: a status and body, hanging, an endless body, garbage.
// TLS uses a self-signed certificate made in memory at construction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

namespace vigil::health::test {

class TestHttpServer {
public:
    enum class Mode {
        respond,  // status and body as set by respond()
        hang,     // read the request, then say nothing until the server goes away
        huge,     // 200 with a 64 MiB Content-Length, streamed as long as the client reads
        garbage,  // binary noise instead of a response
        close,    // close right after reading the request
    };
    enum class Tls { none, modern, legacy_only /* TLS 1.0/1.1 and nothing newer */ };

    explicit TestHttpServer(boost::asio::io_context& io, Tls tls = Tls::none);
    ~TestHttpServer();
    TestHttpServer(const TestHttpServer&) = delete;
    TestHttpServer& operator=(const TestHttpServer&) = delete;

    std::uint16_t port() const;
    void set_mode(Mode mode);
    void respond(int status, std::string body = "ok");
    std::size_t requests() const;        // requests read so far
    std::uint64_t body_bytes_sent() const;  // in huge mode
    std::string last_request() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace vigil::health::test
