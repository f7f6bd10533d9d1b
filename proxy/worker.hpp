// One event loop per core. Each Worker owns an io_context run by one thread,
// its own SO_REUSEPORT acceptor per listener, its sessions, and its idle
// upstream connections. Nothing on the request path is shared with another
// worker except relaxed atomic counters and (only for rate-limited
// listeners) the limiter's sharded mutexes. The admin thread talks to a
// worker only by posting to its io_context: a new pool snapshot, a new TLS
// context, stop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/access_log.hpp"
#include "proxy/metrics.hpp"
#include "proxy/rate_limiter.hpp"
#include "proxy/registry.hpp"

namespace boost::asio::ssl {
class context;
}

namespace vigil::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// CLOCK_MONOTONIC (steady_clock's clock) at jiffy resolution: a vDSO read
// without the TSC, for deadlines and balancing decisions, which need
// milliseconds at best. Latencies use Clock::now().
inline TimePoint coarse_now() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                 std::chrono::nanoseconds(ts.tv_nsec)));
}

struct ProxyOptions {
    std::size_t max_header = 16 * 1024;              // request head bytes; 431 beyond
    std::uint64_t max_body = 64ull * 1024 * 1024;    // request body bytes; 413 beyond (0: no limit)
    std::chrono::milliseconds client_timeout{60000};    // idle keep-alive and request read; 408
    std::chrono::milliseconds upstream_timeout{60000};  // waiting on the upstream; 504
    std::chrono::milliseconds connect_timeout{5000};    // connect to an upstream; then the next server
    std::size_t idle_per_server = 64;                // idle upstream connections kept per server, per worker
    std::chrono::milliseconds drain_idle{1000};        // graceful stop: how long an idle keep-alive connection may still send a request
    std::size_t workers = 0;                         // 0: one per core
    int access_log_fd = 1;                           // -1: no access log
};

// Shared, read-mostly state of one listener.
struct ListenerShared {
    ListenerSpec spec;
    ListenerStats* stats = nullptr;
    RateLimiter* limiter = nullptr;  // null: no rate limit
    int inherited_fd = -1;           // a socket vigild holds (inherited_sockets.hpp); -1: bind our own
};

struct UpstreamConn {
    UpstreamConn(asio::io_context& io, std::uint32_t server) : sock(io), server_id(server) {}
    tcp::socket sock;
    std::uint32_t server_id;
    TimePoint idle_since{};
    // Request bytes written on it so far, all acknowledged once their
    // answers came back: the baseline that proves a request sent on a
    // connection the upstream had closed never reached it.
    std::uint64_t sent = 0;
};

// What the worker needs from a live session: deadline checks and shutdown.
class SessionBase {
public:
    virtual ~SessionBase() = default;
    virtual void on_timeout() = 0;  // the deadline passed: cancel whatever is pending
    virtual void on_stop() = 0;     // graceful stop: close now if idle, else after this request
    // A new pool snapshot is in place (Worker::snapshot()): a TCP relay to a
    // server now down closes, a connection waiting for a server looks again.
    virtual void on_pools_changed() {}
    TimePoint deadline = TimePoint::max();
    SessionBase* prev = nullptr;
    SessionBase* next = nullptr;
};

class Worker {
public:
    Worker(int index, const ProxyOptions& opts, const std::vector<ListenerShared>& listeners,
           std::shared_ptr<const Snapshot> snap,
           std::vector<std::shared_ptr<asio::ssl::context>> tls);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Binds this worker's acceptors (throws on failure); call before start().
    void open_listeners();
    void start();
    void join();

    // From other threads: hand over new state, or ask for a graceful stop.
    void post_snapshot(std::shared_ptr<const Snapshot> snap);
    void post_tls(std::size_t listener, std::shared_ptr<asio::ssl::context> ctx);
    // `taken` runs on this worker's thread once it has stopped accepting and
    // told its sessions; the log line that says so must not come earlier, as
    // a client reading it may rely on Connection: close from then on.
    void post_stop(std::function<void()> taken = {});
    void force_stop() { io_.stop(); }

    // --- for sessions (worker thread only) ---
    asio::io_context& io() noexcept { return io_; }
    const ProxyOptions& options() const noexcept { return opts_; }
    const ListenerShared& listener(std::size_t i) const noexcept { return listeners_[i]; }
    const std::shared_ptr<const Snapshot>& snapshot() const noexcept { return snap_; }
    const std::shared_ptr<asio::ssl::context>& tls(std::size_t i) const noexcept { return tls_[i]; }
    bool stopping() const noexcept { return stopping_; }

    std::unique_ptr<UpstreamConn> take_idle(std::uint32_t server_id);
    void give_back(std::unique_ptr<UpstreamConn> conn);  // closes it when the server is not usable
    void purge_idle(std::uint32_t server_id);
    // The server is down or gone from its pool in the current snapshot:
    // its relayed TCP connections close (a demoted primary takes no writes).
    bool server_cut(std::uint32_t server_id) const noexcept {
        return server_id >= cut_.size() || cut_[server_id] != 0;
    }

    void link(SessionBase* s) noexcept;
    void unlink(SessionBase* s) noexcept;
    AccessLog& access_log() noexcept { return log_; }
    // A request id unique across workers and restarts: random prefix + counter.
    std::string_view next_request_id() noexcept;

private:
    void start_session(std::size_t listener, tcp::socket sock);  // session.cpp
    void start_tcp_session(std::size_t listener, tcp::socket sock);  // tcp_session.cpp
    void accept(std::size_t listener);
    void tick();
    void apply_snapshot(std::shared_ptr<const Snapshot> snap);
    void maybe_finish();

    int index_;
    ProxyOptions opts_;
    std::vector<ListenerShared> listeners_;
    asio::io_context io_;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
    std::shared_ptr<const Snapshot> snap_;
    std::vector<std::uint8_t> usable_;  // by server id: up in the current snapshot
    std::vector<std::uint8_t> cut_;     // by server id: down or absent in the current snapshot
    std::vector<std::vector<std::unique_ptr<UpstreamConn>>> idle_;  // by server id
    std::vector<std::shared_ptr<asio::ssl::context>> tls_;
    asio::steady_timer ticker_;
    unsigned ticks_ = 0;
    SessionBase* sessions_ = nullptr;
    std::size_t session_count_ = 0;
    bool stopping_ = false;
    AccessLog log_;
    std::uint64_t rid_counter_ = 0;
    char rid_[40] = {};
    char rid_prefix_[17] = {};
    std::thread thread_;
};

}  // namespace vigil::proxy
