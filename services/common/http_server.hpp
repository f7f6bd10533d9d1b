// The HTTP/1.1 server core both reference services run on.
//
// Threading: one thread runs the io_context and owns every socket (accept,
// read, write, keep-alive, timeouts). Handlers run on a small worker pool,
// because they make blocking libpq/hiredis/HTTP calls; the response is posted
// back to the I/O thread. So a slow database ties up at most `workers`
// threads, never the accept loop, and /health still gets read and queued
// while the database hangs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http_types.hpp"

namespace vigil::services {

struct ServerOptions {
    std::string bind = "127.0.0.1";
    std::uint16_t port = 0;
    unsigned workers = 4;
    std::size_t body_limit = 64 * 1024;  // larger bodies get 413
    unsigned idle_timeout_s = 30;        // keep-alive connections idle this long are closed
    unsigned drain_timeout_s = 10;       // on SIGTERM, in-flight requests get this long
};

using Handler = std::function<Response(const Request&)>;

class HttpServer {
public:
    // Binds at once, so a port in use is reported by the constructor
    // (std::runtime_error with the address), before anything else starts.
    HttpServer(ServerOptions options, Handler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    std::uint16_t port() const;

    // Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight
    // requests finish (bounded by drain_timeout_s) and returns.
    void run();

    struct Impl;  // defined in http_server.cpp, where the sessions reach it

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::services
