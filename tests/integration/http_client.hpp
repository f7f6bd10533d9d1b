// An HTTP/1.1 client that keeps its connection, as a payment client library
// does: every request (GETs and POSTs with bodies) goes on the same
// connection to 127.0.0.1:port, and a new one is opened only when the server
// closed it (Connection: close, or an idle connection found closed before
// the next request). A request that fails in flight (reset, timeout, a
// response cut short or followed by stray bytes) is a failure: the
// connection is dropped and the caller decides whether to retry (with the
// same Idempotency-Key for a payment). Used by the load of the HA scenarios,
// the chaos test and the rolling restarts, so a proxy that mis-frames a
// keep-alive request (issue 13) fails them.
#pragma once

#include <cstddef>
#include <string>

#include "harness.hpp"

namespace vigil::test {

struct Reply {
    int status = 0;  // 0: no whole HTTP answer (refused, reset, timeout, bad framing)
    std::string body;
    std::string head;   // status line and headers, as received
    std::string error;  // why status is 0
};

class KeepAliveClient {
public:
    explicit KeepAliveClient(int port, Ms timeout = 5s) : port_(port), timeout_(timeout) {}
    ~KeepAliveClient() { drop(); }
    KeepAliveClient(const KeepAliveClient&) = delete;
    KeepAliveClient& operator=(const KeepAliveClient&) = delete;

    // `headers`: whole lines, each ending in \r\n. A body (or a POST/PUT)
    // gets Content-Type: application/json and its Content-Length.
    Reply request(const std::string& method, const std::string& target, const std::string& headers = "",
                  const std::string& body = "");

    std::size_t connections() const { return connections_; }  // opened so far
    std::size_t requests() const { return requests_; }

private:
    bool open(std::string& why);
    void drop();
    bool idle_ok(std::string& why);
    bool read_more(std::string& why);
    bool read_response(bool head_only, Reply& r, bool& server_closes);

    int port_;
    Ms timeout_;
    int fd_ = -1;
    std::string in_;  // received and not yet consumed
    std::chrono::steady_clock::time_point deadline_{};
    std::size_t connections_ = 0, requests_ = 0;
};

}  // namespace vigil::test
