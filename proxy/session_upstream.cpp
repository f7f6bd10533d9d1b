// The upstream side of one request: pick a server, connect or reuse an idle
// connection, send the request (the body as far as the framer says), read
// and relay the response, and decide whether to retry elsewhere. The retry
// rules are in proxy/session.cpp's opening comment.
#include "proxy/session.hpp"

#include "proxy/rewrite.hpp"
#include "proxy/tcp_probe.hpp"

namespace vigil::proxy::session_detail {
namespace {

// A request written to a pooled connection the upstream had already closed
// never reached it when the connection then ends in a clean EOF before any
// answer and the upstream's TCP acknowledged none of the request's bytes:
// the upstream's FIN acknowledges all it had received, so an upstream that
// had read even one byte of it would have acknowledged that byte. (A reset
// proves nothing: an upstream closing with unread bytes resets without
// acknowledging them.) Asked only on that failure: no system call on the
// way of a request that is answered.
bool never_arrived(tcp::socket& s, std::uint64_t sent_before, const boost::system::error_code& ec) {
    if (sent_before == 0 || ec != asio::error::eof) return false;
    const auto acked = bytes_acked(s.native_handle());
    return acked && *acked <= sent_before + 1;  // + 1: the SYN
}

struct ActiveGuard {
    explicit ActiveGuard(ServerStats& s) : s_(s) { s_.active.fetch_add(1, std::memory_order_relaxed); }
    ~ActiveGuard() { s_.active.fetch_sub(1, std::memory_order_relaxed); }
    ServerStats& s_;
};

}  // namespace

template <class Stream>
asio::awaitable<bool> Session<Stream>::forward(const Pool& pool) {
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
            // A body streamed from the client cannot be sent again: before
            // it goes to a pooled connection, make sure the upstream has
            // not closed that connection (one system call). A body we hold
            // whole needs no look: if the connection turns out closed,
            // attempt() proves the request never arrived and it is sent
            // again on a fresh connection.
            if (conn && !idempotent_ && !body_buffered && !idle_conn_alive(conn->sock.native_handle())) conn.reset();
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
                if (pool.eject_on_5xx > 0) record_status(pool, static_cast<std::size_t>(si), status_, Clock::now());
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

template <class Stream>
asio::awaitable<std::unique_ptr<UpstreamConn>> Session<Stream>::connect(const ServerEntry& srv) {
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
template <class Stream>
asio::awaitable<Outcome> Session<Stream>::attempt(UpstreamConn& conn, const ServerEntry& srv, std::size_t first,
                                 bool body_buffered) {
    up_ = &conn;
    timed_out_ = false;
    fail_counts_ = true;
    conn_reusable_ = false;
    body_cut_ = false;
    const bool replayable = body_buffered && idempotent_;
    const std::uint64_t sent_before = conn.sent;  // 0: a fresh connection
    arm(opts_.upstream_timeout);
    const auto t_sent = Clock::now();
    {
        const char* body;
        std::size_t buffered;
        in_.body(body, buffered);
        std::array<asio::const_buffer, 2> bufs{asio::buffer(req_out_), asio::buffer(body, first)};
        std::size_t n = send_now(conn.sock, bufs);
        boost::system::error_code ec;
        if (!all_sent(bufs)) {
            auto [wec, wn] = co_await asio::async_write(conn.sock, bufs, use_tuple);
            ec = wec;
            n += wn;
        }
        conn.sent += n;
        // Nothing written to a pooled connection (it was reset while idle):
        // nothing reached the upstream, any method may go again.
        const bool unsent = n == 0 && sent_before > 0 && body_buffered;
        if (ec) co_return fail((replayable || unsent) && !timed_out_ ? Outcome::retry : Outcome::failed, timed_out_ ? 504 : 502);
    }
    if (!body_buffered) {
        in_.consume(first);
        Outcome o = co_await stream_request_body(conn);
        // An upstream that answers before it has read the whole body (a 401,
        // a 413) and closes makes the next body write fail: its answer may
        // be waiting in the socket, and is what the client should get (as
        // nginx relays it). Read it; only without one is this a 502.
        if (o != Outcome::served && !body_cut_) co_return o;
    }

    // Response head; interim 1xx responses are dropped (100 Continue was
    // answered by us already).
    std::size_t got = 0;
    for (;;) {
        arm(opts_.upstream_timeout);
        auto [ec, n] = co_await conn.sock.async_read_some(asio::buffer(up_buf_.get() + got, up_cap - got), use_tuple);
        if (ec) {
            if (timed_out_) co_return fail(Outcome::failed, 504);
            const bool again = replayable || (body_buffered && never_arrived(conn.sock, sent_before, ec));
            co_return fail(got == 0 && again ? Outcome::retry : Outcome::failed, 502);
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

// The rest of a body that did not come with its head: relayed as it
// arrives, exactly to its end as the framer sees it.
template <class Stream>
asio::awaitable<Outcome> Session<Stream>::stream_request_body(UpstreamConn& conn) {
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
            conn.sent += n;
            if (ec) {
                body_cut_ = !timed_out_;  // the upstream stopped reading: an early answer, maybe
                co_return fail(Outcome::failed, timed_out_ ? 504 : 502);
            }
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

template <class Stream>
asio::awaitable<Outcome> Session<Stream>::relay_response(UpstreamConn& conn, const ServerEntry& srv, std::size_t got) {
    // After an early answer the rest of the client's body was never read:
    // the client connection ends with this response.
    keep_ = req_.keep_alive && !stop_ && !w_.stopping() && resp_.body != BodyKind::until_close && !body_cut_;
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
        if (const auto rest = write_now(asio::buffer(resp_out_)); rest.size()) {
            auto [ec, n] = co_await client_write(rest);
            if (ec) co_return client_gone();
        }
    } else if constexpr (!is_tls) {
        // Head and the first of the body in one sendmsg, without a copy.
        std::array<asio::const_buffer, 2> out{asio::buffer(resp_out_), asio::buffer(body, take)};
        send_now(stream_, out);
        if (!all_sent(out)) {
            auto [ec, n] = co_await asio::async_write(stream_, out, use_tuple);
            if (ec) co_return client_gone();
        }
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
        if (const auto rest = write_now(asio::buffer(up_buf_.get(), take)); rest.size()) {
            auto [wec, wn] = co_await client_write(rest);
            if (wec) co_return client_gone();
        }
        bytes_ += take;
    }
    conn_reusable_ = resp_.keep_alive && !leftover && req_.version_minor == 1 && resp_.body != BodyKind::until_close &&
                     !body_cut_;
    l_.stats->count_response(cls);
    log_request(status_);
    co_return Outcome::served;
}

#define VIGIL_SESSION_UPSTREAM(S)                                                                            \
    template asio::awaitable<bool> Session<S>::forward(const Pool&);                                          \
    template asio::awaitable<std::unique_ptr<UpstreamConn>> Session<S>::connect(const ServerEntry&);          \
    template asio::awaitable<Outcome> Session<S>::attempt(UpstreamConn&, const ServerEntry&, std::size_t, bool); \
    template asio::awaitable<Outcome> Session<S>::stream_request_body(UpstreamConn&);                         \
    template asio::awaitable<Outcome> Session<S>::relay_response(UpstreamConn&, const ServerEntry&, std::size_t);
VIGIL_SESSION_INSTANTIATE(VIGIL_SESSION_UPSTREAM)

}  // namespace vigil::proxy::session_detail
