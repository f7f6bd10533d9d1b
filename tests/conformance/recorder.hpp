// The recording backend of the conformance suite: an HTTP/1.1 server on
// 127.0.0.1 that writes down exactly what each request looked like when it
// arrived (method, target, framing, decoded body, chunk extensions, trailers)
// and answers as the request's `r=` query parameter asks, so one sequence can
// drive every kind of upstream answer through both proxies.
//
//   r=cl (default) 200 with Content-Length     r=chunked 200, chunked (3 chunks)
//   r=eof     HTTP/1.0 200, close-delimited     r=204 / r=304 no body
//   r=close   200 with Connection: close         r=drop 200, then closes the
//   r=big     200, 64 KiB with Content-Length              (pooled) connection
//   r=500     500 with a body                     r=304cl 304 with a Content-Length
//   r=interim 100 and 103 before a 200
//   r=early   200 and Connection: close before reading the request body;
//             then reads and drops the body         r=early-rst the same, then
//   r=clte    Content-Length and chunked (invalid)  closes with the body unread
//   r=2cl     two different Content-Length (invalid)
//
// It parses with its own code, deliberately lenient and independent of
// proxy/http_parse.*: whatever a proxy lets through is recorded as the
// backend would see it, and bytes that do not parse as a request are recorded
// too (with `error` set), since those are exactly what a smuggling test must
// catch. A detached thread per connection with poll-bounded reads: the suite
// opens a handful of connections at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace conformance {

struct Received {
    unsigned conn = 0;  // backend-side connection number, from 1
    std::string method, target, version;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
    std::string framing;  // "none", "length", "chunked", or "unread" (r=early*)
    std::string body;     // decoded
    std::string chunk_ext, trailers;  // raw, as relayed
    std::string error;    // set when the bytes were not a request; `body` then holds them
    // The connection ended (or stalled) inside the request: a request the
    // proxy began to stream and then abandoned, which a backend discards.
    bool truncated = false;

    std::string header(const std::string& lower_name) const;  // "" when absent
    int count(const std::string& lower_name) const;
    std::string summary() const;  // one line, for failure messages
};

class Recorder {
public:
    Recorder();
    ~Recorder();
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    int port() const { return port_; }
    // Everything recorded since the last take(), in arrival order.
    std::vector<Received> take();
    std::size_t count() const;
    // Waits (condition variable, deadline) until a request whose target
    // starts with `prefix` has been recorded.
    bool wait_target(const std::string& prefix, std::chrono::milliseconds timeout);

private:
    void accept_loop();
    void serve(int fd, unsigned conn);
    void record(Received r);

    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread acceptor_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Received> seen_;
    std::set<int> open_fds_;
    int live_threads_ = 0;
    unsigned next_conn_ = 0;
};

}  // namespace conformance
