// A blocking TCP connection to one of a replicated pair's servers, with
// timeouts on connect, send and receive: the replication manager talks to
// its servers on worker threads (worker.hpp), never on vigild's event loop.
#pragma once

#include <string>
#include <string_view>

namespace vigil::supervisor::replication {

// Where a server listens (a numeric address: nothing is resolved) and, for
// PostgreSQL, as whom vigild connects.
struct Target {
    std::string host;
    int port = 0;
    std::string user;
};

// A socket closed on every path out.
struct Fd {
    int fd = -1;
    Fd() = default;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();
};

// Connects within `timeout_ms`, then leaves the socket blocking with send
// and receive timeouts of `io_timeout_s`. "" or why not.
std::string connect_to(const Target& t, Fd& s, int timeout_ms, int io_timeout_s);
std::string send_all(int fd, std::string_view data);

}  // namespace vigil::supervisor::replication
