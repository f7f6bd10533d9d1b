// vigilctl's side of the control API: one HTTP/1.1 request at a time over
// the Unix socket, or over TCP to [inet_http_server] (supervisorctl's
// serverurl = http://host:port), with HTTP basic auth when a username is
// given; or a streamed reply handed over piece by piece.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace vigil::ctl {

struct HttpReply {
    int status = 0;
    std::string body;
    std::string log_offset;  // X-Log-Offset, for tail
};

// Where vigild answers: a Unix socket path, or host and port.
struct Endpoint {
    std::string path;  // Unix socket (used when port is 0)
    std::string host;
    int port = 0;
    std::string username, password;  // basic auth when username is set
    // "/run/vigil/vigil.sock" or "http://127.0.0.1:9001", for messages.
    std::string describe() const;
};

class Client {
public:
    explicit Client(std::string socket_path) { at_.path = std::move(socket_path); }
    explicit Client(Endpoint at) : at_(std::move(at)) {}

    // nullopt when vigild cannot be reached; `error` says why.
    std::optional<HttpReply> call(const std::string& method, const std::string& target, const std::string& body,
                                  std::string& error, std::chrono::seconds timeout = std::chrono::seconds(120)) const;

    // Streams a reply body: `on_data` gets each piece as it arrives and
    // returns false to stop. Returns the status (0 when unreachable).
    // With a timeout, a stream silent for that long ends too.
    // `method` and `body` for streamed replies to a POST (rolling restart).
    int stream(const std::string& target, const std::function<bool(const std::string&)>& on_data,
               std::string& error, std::optional<std::chrono::seconds> timeout = std::nullopt,
               const std::string& method = "GET", const std::string& body = "") const;

    const Endpoint& endpoint() const { return at_; }

private:
    Endpoint at_;
};

// A process or group name (or GROUP:*) as one URL path segment: names may
// hold any character but space, ':' and '/' (config/values.hpp), so '?', '#',
// '%' and non-ASCII bytes are percent-encoded; the control API decodes them.
std::string path_segment(const std::string& name);

}  // namespace vigil::ctl
