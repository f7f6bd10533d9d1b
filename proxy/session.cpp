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
//                                          not counted against the server
//   no response within upstream_timeout  → 504, no retry (it may have run)
// Before reusing an idle connection for a non-idempotent request we peek at
// it, so a POST is not lost to a keep-alive connection the upstream closed.
#include "proxy/http_parse.hpp"
#include "proxy/path.hpp"
#include "proxy/request_framer.hpp"
#include "proxy/rewrite.hpp"
#include "proxy/tls_stream.hpp"
#include "proxy/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace vigil::proxy {
namespace {

namespace ssl = asio::ssl;  // contexts only; connections use TlsStream
using Tls = TlsStream;
using IoResult = std::tuple<boost::system::error_code, std::size_t>;
// Deferred operations awaited directly: no coroutine frame per I/O operation
// (use_awaitable allocates one for every read and write).
constexpr auto use_tuple = asio::as_tuple(asio::deferred);
constexpr std::size_t up_cap = 16 * 1024;  // upstream read buffer, per connection
constexpr std::size_t coalesce_limit = 16 * 1024;  // below this, head and body go out in one write

tcp::socket& lowest(tcp::socket& s) { return s; }
tcp::socket& lowest(Tls& s) { return s.next_layer(); }

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

// A pooled connection the upstream has closed reads EOF (or has stray
// bytes); a live idle one would block.
bool idle_conn_alive(tcp::socket& s) {
    char c;
    ssize_t r = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void append_num(std::string& out, std::uint64_t v) {
    char buf[24];
    int n = std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
    out.append(buf, static_cast<std::size_t>(n));
}

struct ActiveGuard {
    explicit ActiveGuard(ServerStats& s) : s_(s) { s_.active.fetch_add(1, std::memory_order_relaxed); }
    ~ActiveGuard() { s_.active.fetch_sub(1, std::memory_order_relaxed); }
    ServerStats& s_;
};

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

    void on_stop() override {
        stop_ = true;
        if (idle_) cancel_all();
    }

    asio::awaitable<void> run() {
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

    void cancel_all() {
        boost::system::error_code ec;
        lowest(stream_).cancel(ec);
        if (up_) up_->sock.cancel(ec);
    }

    // ---- one request -------------------------------------------------------

    asio::awaitable<bool> serve_one() {
        arm(opts_.client_timeout);
        timed_out_ = false;
        ParseResult pr = ParseResult::incomplete;
        for (;;) {
            if (!in_.empty()) {
                pr = in_.parse_head(req_);
                if (pr != ParseResult::incomplete) break;
            }
            idle_ = in_.empty();
            if (idle_ && (stop_ || w_.stopping())) co_return false;
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
        if (keep && !in_.at_boundary()) keep = co_await finish_body();
        co_return keep;
    }

    // Reads and drops the rest of the current request's body (bounded by
    // max_body and the client timeout).
    asio::awaitable<bool> finish_body() {
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

    void build_request_head() {
        std::string_view rid = req_.request_id;
        if (!safe_request_id(rid)) rid = w_.next_request_id();
        std::memcpy(rid_, rid.data(), rid.size());
        rid_len_ = rid.size();
        proxy::build_request_head(req_out_, req_, ip_, is_tls, {rid_, rid_len_});
    }

    asio::awaitable<bool> forward(const Pool& pool) {
        pool_name_ = pool.name;
        build_request_head();

        // The part of the body already buffered stays in the framer until the
        // request is sent, so a failed attempt can be replayed elsewhere.
        const char* body_start;
        std::size_t first = 0;
        const auto st = in_.body(body_start, first);
        if (st == RequestFramer::Body::bad || st == RequestFramer::Body::too_large) {
            l_.stats->rejected.fetch_add(1, std::memory_order_relaxed);
            co_await reply(st == RequestFramer::Body::bad ? 400 : 413, false);
            co_return false;
        }
        const bool body_buffered = st == RequestFramer::Body::done;
        if (req_.expect_continue && !body_buffered) {
            static constexpr char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            arm(opts_.client_timeout);
            auto [ec, n] = co_await client_write(asio::buffer(cont, sizeof cont - 1));
            if (ec) co_return false;
        }

        TriedSet tried;
        bool allow_reuse = true;
        for (;;) {
            const int si = pick_server(pool, coarse_now(), tried);
            if (si < 0) {
                const int status = tries_ == 0 ? 503 : 502;
                pool.counters->unserved[5].fetch_add(1, std::memory_order_relaxed);
                const bool keep = body_buffered && req_.keep_alive;
                co_await reply(status, keep);
                co_return keep;
            }
            const ServerEntry& srv = pool.servers[static_cast<std::size_t>(si)];
            ActiveGuard active(*srv.stats);
            upstream_name_ = srv.address;
            ++tries_;
            if (tries_ > 1) pool.counters->retries.fetch_add(1, std::memory_order_relaxed);

            std::unique_ptr<UpstreamConn> conn;
            if (allow_reuse) {
                conn = w_.take_idle(srv.stats->id);
                if (conn && !idempotent_ && !idle_conn_alive(conn->sock)) conn.reset();
            }
            const bool reused = conn != nullptr;
            if (!conn) {
                conn = co_await connect(srv);
                if (!conn) {
                    record_failure(pool, static_cast<std::size_t>(si), Clock::now());
                    w_.purge_idle(srv.stats->id);
                    tried.add(static_cast<std::size_t>(si));
                    continue;
                }
            }

            Outcome out = co_await attempt(*conn, srv, first, body_buffered);
            up_ = nullptr;
            switch (out) {
                case Outcome::served:
                    if (conn_reusable_) w_.give_back(std::move(conn));
                    record_success(*srv.stats);
                    co_return keep_;
                case Outcome::retry:
                    if (reused) {
                        // Most likely a keep-alive connection the upstream
                        // closed; its siblings are suspect too.
                        w_.purge_idle(srv.stats->id);
                        allow_reuse = false;
                    } else {
                        record_failure(pool, static_cast<std::size_t>(si), Clock::now());
                        tried.add(static_cast<std::size_t>(si));
                    }
                    continue;
                case Outcome::failed:
                    if (fail_counts_) record_failure(pool, static_cast<std::size_t>(si), Clock::now());
                    if (fail_counts_) srv.stats->count_response(5);
                    co_await reply(fail_status_, false);
                    co_return false;
                case Outcome::aborted:
                    if (fail_counts_) record_failure(pool, static_cast<std::size_t>(si), Clock::now());
                    log_request(status_ ? status_ : 499);  // 499: the client went away first (nginx's code)
                    co_return false;
            }
        }
    }

    asio::awaitable<std::unique_ptr<UpstreamConn>> connect(const ServerEntry& srv) {
        auto c = std::make_unique<UpstreamConn>(w_.io(), srv.stats->id);
        boost::system::error_code ec;
        auto addr = asio::ip::make_address(srv.ip, ec);
        if (ec) co_return nullptr;
        up_ = c.get();
        timed_out_ = false;
        arm(opts_.connect_timeout);
        auto [cec] = co_await c->sock.async_connect(tcp::endpoint(addr, srv.port), use_tuple);
        up_ = nullptr;
        if (cec) co_return nullptr;
        c->sock.set_option(tcp::no_delay(true), ec);
        co_return c;
    }

    // Sends the request on `conn` and relays the response.
    asio::awaitable<Outcome> attempt(UpstreamConn& conn, const ServerEntry& srv, std::size_t first,
                                     bool body_buffered) {
        up_ = &conn;
        timed_out_ = false;
        fail_counts_ = true;
        conn_reusable_ = false;
        const bool replayable = body_buffered && idempotent_;
        arm(opts_.upstream_timeout);
        const auto t_sent = Clock::now();
        {
            const char* body;
            std::size_t buffered;
            in_.body(body, buffered);
            std::array<asio::const_buffer, 2> bufs{asio::buffer(req_out_), asio::buffer(body, first)};
            auto [ec, n] = co_await asio::async_write(conn.sock, bufs, use_tuple);
            if (ec) co_return fail(replayable && !timed_out_ ? Outcome::retry : Outcome::failed, timed_out_ ? 504 : 502);
        }
        if (!body_buffered) {
            in_.consume(first);
            Outcome o = co_await stream_request_body(conn);
            if (o != Outcome::served) co_return o;
        }

        // Response head; interim 1xx responses are dropped (100 Continue was
        // answered by us already).
        std::size_t got = 0;
        for (;;) {
            arm(opts_.upstream_timeout);
            auto [ec, n] = co_await conn.sock.async_read_some(asio::buffer(up_buf_.get() + got, up_cap - got), use_tuple);
            if (ec) {
                if (timed_out_) co_return fail(Outcome::failed, 504);
                co_return fail(got == 0 && replayable ? Outcome::retry : Outcome::failed, 502);
            }
            got += n;
            ParseResult pr;
            while ((pr = parse_response({up_buf_.get(), got}, up_cap, head_method_, resp_)) == ParseResult::ok &&
                   resp_.status < 200) {
                if (resp_.status == 101) co_return fail(Outcome::failed, 502);  // we never forward Upgrade
                std::memmove(up_buf_.get(), up_buf_.get() + resp_.head_size, got - resp_.head_size);
                got -= resp_.head_size;
            }
            if (pr == ParseResult::ok) break;
            if (pr != ParseResult::incomplete) co_return fail(Outcome::failed, 502);
        }
        srv.stats->observe_latency(Clock::now() - t_sent);
        status_ = resp_.status;
        const Outcome relayed = co_await relay_response(conn, srv, got);
        co_return relayed;
    }

    Outcome fail(Outcome o, int status) {
        fail_status_ = status;
        return o;
    }

    // The rest of a body that did not come with its head: relayed as it
    // arrives, exactly to its end as the framer sees it.
    asio::awaitable<Outcome> stream_request_body(UpstreamConn& conn) {
        for (;;) {
            const char* p;
            std::size_t take;
            auto st = in_.body(p, take);
            if (st == RequestFramer::Body::bad || st == RequestFramer::Body::too_large) {
                fail_counts_ = false;
                l_.stats->rejected.fetch_add(1, std::memory_order_relaxed);
                co_return fail(Outcome::failed, st == RequestFramer::Body::bad ? 400 : 413);
            }
            if (take > 0) {
                arm(opts_.upstream_timeout);
                auto [ec, n] = co_await asio::async_write(conn.sock, asio::buffer(p, take), use_tuple);
                if (ec) co_return fail(Outcome::failed, timed_out_ ? 504 : 502);
                in_.consume(take);
            }
            if (in_.at_boundary()) co_return Outcome::served;
            arm(opts_.client_timeout);
            char* at = in_.read_ptr();
            auto [ec, n] = co_await client_read(asio::buffer(at, in_.read_room()));
            if (ec) {
                fail_counts_ = false;
                if (timed_out_) {
                    l_.stats->rejected.fetch_add(1, std::memory_order_relaxed);
                    co_return fail(Outcome::failed, 408);
                }
                co_return Outcome::aborted;
            }
            in_.received(n);
        }
    }

    asio::awaitable<Outcome> relay_response(UpstreamConn& conn, const ServerEntry& srv, std::size_t got) {
        keep_ = req_.keep_alive && !stop_ && !w_.stopping() && resp_.body != BodyKind::until_close;
        build_response_head(resp_out_, resp_, {up_buf_.get(), resp_.head_size}, keep_, req_.version_minor == 0);
        std::size_t avail = got - resp_.head_size;
        const char* body = up_buf_.get() + resp_.head_size;

        ChunkedScanner chunks;
        std::uint64_t remaining = 0;
        std::size_t take = 0;
        bool done = false;
        bool leftover = false;  // bytes past the response: the connection is not clean
        auto slice = [&](const char* p, std::size_t n) -> bool {
            switch (resp_.body) {
                case BodyKind::none: take = 0; leftover = leftover || n > 0; done = true; break;
                case BodyKind::length:
                    take = static_cast<std::size_t>(std::min<std::uint64_t>(n, remaining));
                    remaining -= take;
                    leftover = leftover || take < n;
                    done = remaining == 0;
                    break;
                case BodyKind::chunked: {
                    auto st = chunks.feed(p, n, take);
                    if (st == ChunkedScanner::Status::bad) return false;
                    done = st == ChunkedScanner::Status::done;
                    leftover = leftover || take < n;
                    break;
                }
                case BodyKind::until_close: take = n; break;
            }
            return true;
        };
        remaining = resp_.content_length;
        if (!slice(body, avail)) co_return fail(Outcome::failed, 502);

        arm(opts_.client_timeout);
        bytes_ = resp_out_.size() + take;
        if (resp_out_.size() + take <= coalesce_limit) {
            resp_out_.append(body, take);
            auto [ec, n] = co_await client_write(asio::buffer(resp_out_));
            if (ec) co_return client_gone();
        } else {
            auto [ec, n] = co_await client_write(asio::buffer(resp_out_));
            if (ec) co_return client_gone();
            auto [bec, bn] = co_await client_write(asio::buffer(body, take));
            if (bec) co_return client_gone();
        }
        const int cls = status_class(status_);
        srv.stats->count_response(cls);

        while (!done) {
            arm(opts_.upstream_timeout);
            auto [ec, n] = co_await conn.sock.async_read_some(asio::buffer(up_buf_.get(), up_cap), use_tuple);
            if (ec) {
                if (resp_.body == BodyKind::until_close && ec == asio::error::eof) break;
                fail_counts_ = true;  // reset or silent mid-body: the server's fault
                keep_ = false;
                co_return Outcome::aborted;
            }
            if (!slice(up_buf_.get(), n)) {
                keep_ = false;
                co_return Outcome::aborted;
            }
            arm(opts_.client_timeout);
            auto [wec, wn] = co_await client_write(asio::buffer(up_buf_.get(), take));
            if (wec) co_return client_gone();
            bytes_ += take;
        }
        conn_reusable_ = resp_.keep_alive && !leftover && req_.version_minor == 1 && resp_.body != BodyKind::until_close;
        l_.stats->count_response(cls);
        log_request(status_);
        co_return Outcome::served;
    }

    Outcome client_gone() {
        fail_counts_ = false;
        keep_ = false;
        return Outcome::aborted;
    }

    // ---- replies made by the proxy itself -----------------------------------

    asio::awaitable<void> reply(int status, bool keep, int retry_after = 0) {
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
        // Lingering close: read (and drop) what the client still sends for a
        // moment, so closing with unread data does not reset the connection
        // before the client has read our answer.
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

    void log_request(int status) {
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

}  // namespace

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
