// One client connection: read a request head, validate it, route it, pick a
// server, relay the request and the response as streams, repeat while both
// sides keep the connection alive. A C++20 coroutine per connection, all on
// its worker's thread, so no strand and no lock.
//
// Retry rules (failover without failed requests):
//   connect refused / timed out          → next server, any method (nothing sent)
//   reset before any response byte       → next server if the method is
//                                          idempotent and the whole body is
//                                          still in our buffer
//   same on a reused keep-alive conn     → a fresh connection, same rules, and
//                                          not counted against the server;
//                                          any method when the request
//                                          provably never arrived (EOF and
//                                          none of it acknowledged)
//   no response within upstream_timeout  → 504, no retry (it may have run)
// So a POST is not lost to a keep-alive connection the upstream closed: one
// whose body we hold whole is sent again when it never arrived; one whose
// body streams is sent only after a peek at the idle connection.
#include "proxy/session.hpp"

#include "proxy/path.hpp"
#include "proxy/rewrite.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <cstdio>

namespace vigil::proxy {
namespace session_detail {
namespace {

const char* reason(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 417: return "Expectation Failed";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "Error";
    }
}

void append_num(std::string& out, std::uint64_t v) {
    char buf[24];
    int n = std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
    out.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

template <class Stream>
asio::awaitable<void> Session<Stream>::run() {
    if constexpr (is_tls) {
        arm(opts_.client_timeout);
        const auto ec = co_await stream_.handshake();
        if (ec) {
            l_.stats->tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
            co_return;
        }
    }
    // (No co_await inside a loop condition: GCC 12 miscompiles it.)
    for (;;) {
        if (stop_) break;
        const bool keep = co_await serve_one();
        if (!keep) break;
    }
    if constexpr (is_tls) {
        if (!timed_out_) stream_.shutdown();
    }
}

template <class Stream>
asio::awaitable<bool> Session<Stream>::serve_one() {
    arm(opts_.client_timeout);
    timed_out_ = false;
    ParseResult pr = ParseResult::incomplete;
    for (;;) {
        if (!in_.empty()) {
            pr = in_.parse_head(req_);
            if (pr != ParseResult::incomplete) break;
        }
        idle_ = in_.empty();
        if (idle_ && (stop_ || w_.stopping())) {
            if (opts_.drain_idle.count() == 0) co_return false;
            drain_idle();  // its deadline: the end of the drain window
        }
        char* at = in_.read_ptr();
        auto [ec, n] = co_await client_read(asio::buffer(at, in_.read_room()));
        idle_ = false;
        if (ec) {
            if (timed_out_ && !in_.empty()) {
                l_.stats->rejected.fetch_add(1, std::memory_order_relaxed);
                co_await reply(408, false);
            }
            co_return false;
        }
        in_.received(n);
    }
    t0_ = Clock::now();
    method_.assign(req_.method.data(), std::min<std::size_t>(req_.method.size(), 32));
    idempotent_ = req_.idempotent();
    head_method_ = req_.method == "HEAD";
    target_.assign(req_.target);
    pool_name_ = {};
    upstream_name_ = {};
    tries_ = 0;
    rid_len_ = 0;
    status_ = 0;
    bytes_ = 0;

    if (pr != ParseResult::ok) {
        l_.stats->rejected.fetch_add(1, std::memory_order_relaxed);
        co_await reply(pr == ParseResult::too_large ? 431 : pr == ParseResult::expectation_failed ? 417 : 400, false);
        co_return false;
    }
    const bool no_body = req_.body == BodyKind::none;
    if (l_.limiter) {
        auto d = l_.limiter->check(key_, t0_);
        if (!d.allowed) {
            l_.stats->rate_limited.fetch_add(1, std::memory_order_relaxed);
            const bool keep = no_body && req_.keep_alive;
            co_await reply(429, keep, d.retry_after_s);
            co_return keep;
        }
    }
    if (req_.body == BodyKind::length && opts_.max_body && req_.content_length > opts_.max_body) {
        l_.stats->rejected.fetch_add(1, std::memory_order_relaxed);
        co_await reply(413, false);
        co_return false;
    }
    // Routes see, and the upstream gets, the path as a backend resolves
    // it: a prefix then means the same to both (access control by route).
    switch (normalize_target(req_.target, norm_target_)) {
        case PathResult::same: break;
        case PathResult::changed: req_.target = norm_target_; break;
        case PathResult::bad:
            l_.stats->rejected.fetch_add(1, std::memory_order_relaxed);
            co_await reply(400, false);
            co_return false;
    }
    const std::shared_ptr<const Snapshot> snap = w_.snapshot();
    const RouteTable::Entry* route = snap->routes[li_].match(req_.target);
    if (!route || route->pool_index < 0) {
        const bool keep = no_body && req_.keep_alive;
        co_await reply(route ? 503 : 404, keep);
        co_return keep;
    }
    bool keep = co_await forward(snap->pools[static_cast<std::size_t>(route->pool_index)]);
    // Whatever path the request took, the connection is reused only once
    // the whole body is consumed: a body left in the buffer would be
    // parsed as the next request.
    if (keep && !in_.at_boundary()) {
        const char* p;
        std::size_t n;
        if (in_.body(p, n) == RequestFramer::Body::done) in_.consume(n);  // buffered whole: no coroutine
        if (!in_.at_boundary()) keep = co_await finish_body();
    }
    else if (!keep && body_cut_ && !in_.at_boundary()) co_await linger();  // after an early answer
    co_return keep;
}

// Reads and drops the rest of the current request's body (bounded by
// max_body and the client timeout).
template <class Stream>
asio::awaitable<bool> Session<Stream>::finish_body() {
    for (;;) {
        const char* p;
        std::size_t n;
        const auto st = in_.body(p, n);
        if (st == RequestFramer::Body::bad || st == RequestFramer::Body::too_large) co_return false;
        in_.consume(n);
        if (in_.at_boundary()) co_return true;
        arm(opts_.client_timeout);
        char* at = in_.read_ptr();
        auto [ec, got] = co_await client_read(asio::buffer(at, in_.read_room()));
        if (ec) co_return false;
        in_.received(got);
    }
}

template <class Stream>
void Session<Stream>::build_request_head() {
    std::string_view rid = req_.request_id;
    if (!safe_request_id(rid)) rid = w_.next_request_id();
    std::memcpy(rid_, rid.data(), rid.size());
    rid_len_ = rid.size();
    proxy::build_request_head(req_out_, req_, ip_, is_tls, {rid_, rid_len_});
}

template <class Stream>
asio::awaitable<void> Session<Stream>::reply(int status, bool keep, int retry_after) {
    std::string& o = resp_out_;
    o.clear();
    const char* why = reason(status);
    char line[160];
    int body_len = std::snprintf(nullptr, 0, "%d %s\n", status, why);
    int n = std::snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n",
                          status, why, body_len);
    o.append(line, static_cast<std::size_t>(n));
    if (retry_after > 0) {
        o.append("Retry-After: ");
        append_num(o, static_cast<std::uint64_t>(retry_after));
        o.append("\r\n");
    }
    o.append(keep ? "\r\n" : "Connection: close\r\n\r\n");
    n = std::snprintf(line, sizeof line, "%d %s\n", status, why);
    o.append(line, static_cast<std::size_t>(n));
    bytes_ = o.size();
    timed_out_ = false;
    arm(opts_.client_timeout);
    auto [ec, written] = co_await client_write(asio::buffer(o));
    l_.stats->count_response(status_class(status));
    log_request(status);
    if (ec || keep) co_return;
    co_await linger();
}

// Lingering close: read (and drop) what the client still sends for a
// moment, so closing with unread data does not reset the connection before
// the client has read our answer.
template <class Stream>
asio::awaitable<void> Session<Stream>::linger() {
    boost::system::error_code ignored;
    if constexpr (!is_tls) lowest(stream_).shutdown(tcp::socket::shutdown_send, ignored);
    arm(std::chrono::milliseconds(1000));
    std::size_t drained = 0;
    while (drained < (1u << 20)) {
        auto [rec, rn] = co_await client_read(asio::buffer(in_.scratch(), in_.capacity()));
        if (rec) break;
        drained += rn;
    }
    stop_ = true;
}

template <class Stream>
void Session<Stream>::log_request(int status) {
    if (!w_.access_log().enabled()) return;
    AccessLog::Entry e;
    e.listener = l_.spec.name;
    e.client = ip_;
    e.method = method_;
    e.target = target_;
    e.version_minor = req_.version_minor;
    e.status = status;
    e.bytes = bytes_;
    e.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    e.pool = pool_name_;
    e.upstream = upstream_name_;
    e.tries = tries_;
    e.request_id = std::string_view(rid_, rid_len_);
    w_.access_log().write(e);
}

#define VIGIL_SESSION_CLIENT(S)                                                        \
    template asio::awaitable<void> Session<S>::run();                                   \
    template asio::awaitable<bool> Session<S>::serve_one();                             \
    template asio::awaitable<bool> Session<S>::finish_body();                           \
    template void Session<S>::build_request_head();                                     \
    template asio::awaitable<void> Session<S>::reply(int, bool, int);                   \
    template asio::awaitable<void> Session<S>::linger();                                \
    template void Session<S>::log_request(int);
VIGIL_SESSION_INSTANTIATE(VIGIL_SESSION_CLIENT)

}  // namespace session_detail

using session_detail::Session;
using session_detail::Tls;

void Worker::start_session(std::size_t li, tcp::socket sock) {
    if (listeners_[li].spec.tls()) {
        auto ctx = tls_[li];
        if (!ctx) return;
        auto s = std::make_shared<Session<Tls>>(*this, li, std::move(sock), std::move(ctx));
        asio::co_spawn(io_, [s]() { return s->run(); }, asio::detached);
    } else {
        auto s = std::make_shared<Session<tcp::socket>>(*this, li, std::move(sock));
        asio::co_spawn(io_, [s]() { return s->run(); }, asio::detached);
    }
}

}  // namespace vigil::proxy
