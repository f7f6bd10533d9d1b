// A one-shot HTTP/1.1 client with a hard deadline, over plain TCP or TLS.
// payment-service calls auth-service's /validate with it (through the proxy
// in production), and the tests drive the services with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vigil::services {

struct Url {
    bool tls = false;
    std::string host;
    std::uint16_t port = 0;
    std::string path;  // "" or "/…", no trailing slash kept
};

// http://host[:port][/path] or https://…; nullopt when it does not parse.
std::optional<Url> parse_url(const std::string& text);

struct ClientOptions {
    std::chrono::milliseconds timeout{2000};  // whole exchange: resolve, connect, TLS, write, read
    std::string ca_file;  // TLS: verify the server against this CA; empty = no verification (loopback use)
};

struct HttpResult {
    std::string error;  // empty when a response was received
    int status = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // names lowercased

    bool ok() const { return error.empty(); }
    std::optional<std::string> header(const std::string& lowercase_name) const;
};

HttpResult http_request(const std::string& method, const Url& url, const std::string& target,
                        const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                        const ClientOptions& options = {});

}  // namespace vigil::services
