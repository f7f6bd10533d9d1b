// One client connection of vigil-proxy, as a class template over the client
// stream (plain TCP or TLS). Split along its seam: proxy/session.cpp is the
// client loop (read a head, route, answer, keep the connection or not),
// proxy/session_upstream.cpp the upstream exchange (pick a server, send,
// retry, relay the response). Both are instantiated for the two streams
// there; nothing else includes this header.
#pragma once

#include "proxy/http_parse.hpp"
#include "proxy/request_framer.hpp"
#include "proxy/tls_stream.hpp"
#include "proxy/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>

namespace vigil::proxy::session_detail {

namespace ssl = asio::ssl;  // contexts only; connections use TlsStream
using Tls = TlsStream;
// Deferred operations awaited directly: no coroutine frame per I/O operation
// (use_awaitable allocates one for every read and write).
constexpr auto use_tuple = asio::as_tuple(asio::deferred);
constexpr std::size_t up_cap = 16 * 1024;  // upstream read buffer, per connection
constexpr std::size_t coalesce_limit = 16 * 1024;  // below this, head and body go out in one write

inline tcp::socket& lowest(tcp::socket& s) { return s; }
inline tcp::socket& lowest(Tls& s) { return s.next_layer(); }

// Sends what the socket takes at once, without the event loop, and drops it
// from the front of `bufs`. A request or an answer of a few KiB nearly
// always fits the socket buffer whole, and the asynchronous write this saves
// costs an operation, a trip through the scheduler's queue and a coroutine
// suspension. Any error leaves `bufs` whole: the asynchronous write of the
// rest meets it again and reports it.
template <std::size_t N>
std::size_t send_now(tcp::socket& s, std::array<asio::const_buffer, N>& bufs) noexcept {
    iovec iov[N];
    for (std::size_t i = 0; i < N; ++i) iov[i] = {const_cast<void*>(bufs[i].data()), bufs[i].size()};
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = N;
    const ssize_t r = ::sendmsg(s.native_handle(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r <= 0) return 0;
    std::size_t left = static_cast<std::size_t>(r);
    for (asio::const_buffer& b : bufs) {
        const std::size_t k = std::min(left, b.size());
        b += k;
        left -= k;
    }
    return static_cast<std::size_t>(r);
}

template <std::size_t N>
bool all_sent(const std::array<asio::const_buffer, N>& bufs) noexcept {
    for (const asio::const_buffer& b : bufs)
        if (b.size()) return false;
    return true;
}

// How one attempt on one server ended.
enum class Outcome : std::uint8_t {
    served,        // response relayed; `keep_` says whether the client stays
    retry,         // nothing reached the client; try again
    failed,        // nothing reached the client; answer `fail_status_`
    aborted        // the client connection is unusable: close it
};

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
public:
    static constexpr bool is_tls = std::is_same_v<Stream, Tls>;

    Session(Worker& w, std::size_t li, tcp::socket sock, std::shared_ptr<ssl::context> tls = nullptr)
        : w_(w), li_(li), l_(w.listener(li)), opts_(w.options()), tls_(std::move(tls)),
          stream_(make_stream(std::move(sock))),
          in_(std::max<std::size_t>(opts_.max_header + 4096, 16 * 1024), opts_.max_header, opts_.max_body),
          up_buf_(new char[up_cap]) {
        boost::system::error_code ec;
        auto ep = lowest(stream_).remote_endpoint(ec);
        key_.fill(0);
        if (!ec) {
            ip_ = ep.address().to_string();
            if (ep.address().is_v4()) {
                auto b = ep.address().to_v4().to_bytes();
                std::memcpy(key_.data(), b.data(), 4);
            } else {
                auto b = ep.address().to_v6().to_bytes();
                std::memcpy(key_.data(), b.data(), 16);
            }
        }
        req_out_.reserve(2048);
        resp_out_.reserve(coalesce_limit + 2048);
        l_.stats->connections_total.fetch_add(1, std::memory_order_relaxed);
        l_.stats->connections_active.fetch_add(1, std::memory_order_relaxed);
        w_.link(this);
    }

    ~Session() override {
        w_.unlink(this);
        l_.stats->connections_active.fetch_sub(1, std::memory_order_relaxed);
    }

    void on_timeout() override {
        timed_out_ = true;
        cancel_all();
    }

    // Graceful stop: a request in flight is answered with Connection: close.
    // An idle keep-alive connection gets drain_idle to send its next request
    // (served the same way) before it is closed: closing it at once would
    // race a request already on its way, which the client would see reset.
    void on_stop() override {
        stop_ = true;
        if (idle_) drain_idle();
    }
    void drain_idle() {
        if (opts_.drain_idle.count() == 0) return cancel_all();
        const TimePoint until = coarse_now() + opts_.drain_idle;
        if (until < deadline) deadline = until;
    }

    asio::awaitable<void> run();

private:
    Stream make_stream(tcp::socket sock) {
        if constexpr (is_tls) return Stream(std::move(sock), tls_->native_handle());
        else return sock;
    }

    // Deadlines have the ticker's 200 ms resolution: the coarse clock (no
    // TSC read) is plenty.
    void arm(std::chrono::milliseconds d) { deadline = coarse_now() + d; }

    // Client I/O: Asio's own operations for plain TCP (deferred, awaited in
    // place: no frame); for TLS, SSL_read / SSL_write on the socket
    // (tls_stream.hpp, one frame per call). Both yield (error, bytes).
    auto client_read(asio::mutable_buffer b) {
        if constexpr (is_tls) return stream_.read_some(b);
        else return stream_.async_read_some(b, use_tuple);
    }
    auto client_write(asio::const_buffer b) {
        if constexpr (is_tls) return stream_.write_all(b);
        else return asio::async_write(stream_, b, use_tuple);
    }
    // What of `b` the client socket did not take at once (send_now); all of
    // it for TLS, whose client_write() is SSL_write in place already.
    asio::const_buffer write_now(asio::const_buffer b) noexcept {
        if constexpr (is_tls) {
            return b;
        } else {
            std::array<asio::const_buffer, 1> one{b};
            send_now(stream_, one);
            return one[0];
        }
    }

    void cancel_all() {
        boost::system::error_code ec;
        lowest(stream_).cancel(ec);
        if (up_) up_->sock.cancel(ec);
    }

    // ---- one request -------------------------------------------------------

    asio::awaitable<bool> serve_one();

    // Reads and drops the rest of the current request's body (bounded by
    // max_body and the client timeout).
    asio::awaitable<bool> finish_body();

    void build_request_head();

    asio::awaitable<bool> forward(const Pool& pool);

    asio::awaitable<std::unique_ptr<UpstreamConn>> connect(const ServerEntry& srv);

    // Sends the request on `conn` and relays the response.
    asio::awaitable<Outcome> attempt(UpstreamConn& conn, const ServerEntry& srv, std::size_t first,
                                     bool body_buffered);

    Outcome fail(Outcome o, int status) {
        fail_status_ = status;
        return o;
    }

    // The rest of a body that did not come with its head: relayed as it
    // arrives, exactly to its end as the framer sees it.
    asio::awaitable<Outcome> stream_request_body(UpstreamConn& conn);

    asio::awaitable<Outcome> relay_response(UpstreamConn& conn, const ServerEntry& srv, std::size_t got);

    Outcome client_gone() {
        fail_counts_ = false;
        keep_ = false;
        return Outcome::aborted;
    }

    // ---- replies made by the proxy itself -----------------------------------

    asio::awaitable<void> reply(int status, bool keep, int retry_after = 0);
    asio::awaitable<void> linger();

    void log_request(int status);

    Worker& w_;
    std::size_t li_;
    const ListenerShared& l_;
    const ProxyOptions& opts_;
    std::shared_ptr<ssl::context> tls_;  // keeps this connection's context alive across reloads
    Stream stream_;
    std::string ip_;
    ClientKey key_{};

    RequestFramer in_;  // the client's bytes: which request each belongs to
    std::unique_ptr<char[]> up_buf_;
    std::string req_out_, resp_out_;
    RequestHead req_;
    ResponseHead resp_;
    UpstreamConn* up_ = nullptr;

    bool timed_out_ = false, stop_ = false, idle_ = false;
    bool keep_ = false, conn_reusable_ = false, fail_counts_ = true;
    bool body_cut_ = false;  // the upstream stopped taking the body: answer early, or 502
    bool idempotent_ = false, head_method_ = false;
    int fail_status_ = 502, status_ = 0, tries_ = 0;

    // For the access log: copies, since the buffer moves on while streaming.
    TimePoint t0_{};
    std::string method_, target_, norm_target_;
    std::string_view pool_name_, upstream_name_;  // into the snapshot held by forward()
    char rid_[128];
    std::size_t rid_len_ = 0;
    std::uint64_t bytes_ = 0;
};

// The member functions defined in a .cpp, instantiated there for both streams.
#define VIGIL_SESSION_INSTANTIATE(fn_list) \
    fn_list(tcp::socket)                   \
    fn_list(TlsStream)

}  // namespace vigil::proxy::session_detail
