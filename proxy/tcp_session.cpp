#include "proxy/tcp_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include <cstdio>

namespace vigil::proxy {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::deferred);
// Per direction, as HAProxy's default bufsize: 32 KiB a connection.
constexpr std::size_t half = 16 * 1024;

const char* end_text(TcpSession::End e) {
    switch (e) {
        case TcpSession::End::none: return "-";
        case TcpSession::End::done: return "closed";
        case TcpSession::End::client_reset: return "client_reset";
        case TcpSession::End::server_reset: return "server_reset";
        case TcpSession::End::idle: return "idle_timeout";
        case TcpSession::End::server_down: return "server_down";
        case TcpSession::End::no_server: return "no_server";
        case TcpSession::End::stopped: return "stopped";
    }
    return "-";
}

}  // namespace

TcpSession::TcpSession(Worker& w, std::size_t li, tcp::socket client)
    : w_(w), li_(li), l_(w.listener(li)), client_(std::move(client)), server_sock_(w.io()), wake_(w.io()),
      connect_timeout_(l_.spec.connect_timeout.value_or(w.options().connect_timeout)), t0_(Clock::now()) {
    boost::system::error_code ec;
    auto ep = client_.remote_endpoint(ec);
    if (!ec) ip_ = ep.address().to_string();
    l_.stats->connections_total.fetch_add(1, std::memory_order_relaxed);
    l_.stats->connections_active.fetch_add(1, std::memory_order_relaxed);
    w_.link(this);
}

TcpSession::~TcpSession() {
    if (active_counted_) server_->active.fetch_sub(1, std::memory_order_relaxed);
    w_.unlink(this);
    l_.stats->connections_active.fetch_sub(1, std::memory_order_relaxed);
}

void TcpSession::start() {
    asio::co_spawn(w_.io(), [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void TcpSession::on_timeout() {
    if (phase_ == Phase::connecting) {
        connect_timed_out_ = true;
        boost::system::error_code ec;
        server_sock_.cancel(ec);
    } else if (phase_ == Phase::relaying) {
        close_all(End::idle);
    }
}

void TcpSession::on_pools_changed() {
    if (phase_ == Phase::waiting) {
        wake_.cancel();
    } else if ((phase_ == Phase::connecting || phase_ == Phase::relaying) && w_.server_cut(server_->id)) {
        if (phase_ == Phase::connecting) {
            abandon_connect_ = true;  // not the server's failure: try another
            boost::system::error_code ec;
            server_sock_.cancel(ec);
        } else {
            server_->tcp_cut.fetch_add(1, std::memory_order_relaxed);
            close_all(End::server_down);
        }
    }
}

void TcpSession::arm_idle() noexcept {
    const auto idle = l_.spec.idle_timeout;
    deadline = idle.count() > 0 ? coarse_now() + idle : TimePoint::max();
}

asio::awaitable<void> TcpSession::run() {
    if (!co_await connect_server()) {
        if (phase_ != Phase::closed) {
            if (pool_counters_) pool_counters_->tcp_unserved.fetch_add(1, std::memory_order_relaxed);
            end_ = End::no_server;
            log_line();
        }
        phase_ = Phase::closed;
        co_return;  // the client socket closes with this session
    }
    phase_ = Phase::relaying;
    buf_.reset(new char[2 * half]);
    server_->shard().tcp_connections.fetch_add(1, std::memory_order_relaxed);
    arm_idle();
    pumps_ = 2;
    auto self = shared_from_this();
    asio::co_spawn(w_.io(), [self] { return self->pump(true); }, asio::detached);
    asio::co_spawn(w_.io(), [self] { return self->pump(false); }, asio::detached);
}

asio::awaitable<bool> TcpSession::connect_server() {
    const TimePoint wait_until = coarse_now() + connect_timeout_;
    TriedSet tried;
    for (;;) {
        const std::shared_ptr<const Snapshot> snap = w_.snapshot();
        const auto& entries = snap->routes[li_].entries();
        const Pool* pool = nullptr;
        if (!entries.empty() && entries.front().pool_index >= 0)
            pool = &snap->pools[static_cast<std::size_t>(entries.front().pool_index)];
        if (pool) {
            pool_name_ = pool->name;
            pool_counters_ = pool->counters;
        }
        const int si = pool ? pick_server(*pool, coarse_now(), tried) : -1;
        if (si < 0) {
            if (coarse_now() >= wait_until || w_.stopping()) co_return false;
            // A failover, a restarted proxy that vigild has not told yet:
            // the client waits for a server instead of seeing a refusal.
            phase_ = Phase::waiting;
            wake_.expires_at(wait_until);
            auto [ec] = co_await wake_.async_wait(use_tuple);
            phase_ = Phase::choosing;
            if (ec) tried.clear();  // woken by a pool change: every server may have changed
            continue;
        }
        const ServerEntry& srv = pool->servers[static_cast<std::size_t>(si)];
        if (active_counted_) server_->active.fetch_sub(1, std::memory_order_relaxed);
        server_ = srv.stats;
        server_address_ = srv.address;
        server_->active.fetch_add(1, std::memory_order_relaxed);  // least_conn counts open relays
        active_counted_ = true;
        if (++tries_ > 1) pool->counters->retries.fetch_add(1, std::memory_order_relaxed);

        boost::system::error_code ec;
        const auto addr = asio::ip::make_address(srv.ip, ec);
        if (!ec) {
            phase_ = Phase::connecting;
            connect_timed_out_ = abandon_connect_ = false;
            deadline = coarse_now() + connect_timeout_;
            auto [cec] = co_await server_sock_.async_connect(tcp::endpoint(addr, srv.port), use_tuple);
            deadline = TimePoint::max();
            phase_ = Phase::choosing;
            ec = cec;
        }
        if (!ec) {
            server_sock_.set_option(tcp::no_delay(true), ec);
            co_return true;
        }
        server_sock_.close(ec);
        // `pool` belongs to `snap`, still held: the index is the one picked.
        if (!abandon_connect_) record_failure(*pool, static_cast<std::size_t>(si), Clock::now());
        tried.add(static_cast<std::size_t>(si));
    }
}

asio::awaitable<void> TcpSession::pump(bool to_server) {
    tcp::socket& from = to_server ? client_ : server_sock_;
    tcp::socket& to = to_server ? server_sock_ : client_;
    char* buf = buf_.get() + (to_server ? 0 : half);
    for (;;) {
        auto [ec, n] = co_await from.async_read_some(asio::buffer(buf, half), use_tuple);
        if (ec) {
            if (phase_ != Phase::relaying) break;  // closed by close_all
            if (ec == asio::error::eof) {
                // Half-close: the other side learns there is no more, and
                // may still answer (a client's last request, a server's
                // last reply).
                boost::system::error_code ignored;
                to.shutdown(tcp::socket::shutdown_send, ignored);
                break;
            }
            close_all(to_server ? End::client_reset : End::server_reset);
            break;
        }
        arm_idle();
        if (to_server) {
            sent_ += n;
            server_->shard().tcp_bytes_sent.fetch_add(n, std::memory_order_relaxed);
            l_.stats->shard().bytes_in.fetch_add(n, std::memory_order_relaxed);
        } else {
            received_ += n;
            server_->shard().tcp_bytes_received.fetch_add(n, std::memory_order_relaxed);
            l_.stats->shard().bytes_out.fetch_add(n, std::memory_order_relaxed);
        }
        auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf, n), use_tuple);
        if (wec) {
            if (phase_ == Phase::relaying) close_all(to_server ? End::server_reset : End::client_reset);
            break;
        }
    }
    if (--pumps_ == 0) finish();
}

void TcpSession::close_all(End why) {
    if (phase_ == Phase::closed) return;
    if (end_ == End::none) end_ = why;
    phase_ = Phase::closed;
    deadline = TimePoint::max();
    boost::system::error_code ignored;
    client_.close(ignored);
    server_sock_.close(ignored);
    if (pumps_ == 0) finish();
}

// Both directions are over (or the connection was cut): counters and the
// access-log line, once.
void TcpSession::finish() {
    if (end_ == End::none) end_ = End::done;
    phase_ = Phase::closed;
    deadline = TimePoint::max();
    boost::system::error_code ignored;
    client_.close(ignored);
    server_sock_.close(ignored);
    if (server_ && pumps_ == 0 && buf_) {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0_).count();
        ServerCounters& c = server_->shard();
        c.tcp_closed.fetch_add(1, std::memory_order_relaxed);
        c.tcp_seconds_us.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
        log_line();
        buf_.reset();  // marks the line written
    }
}

// TIME LISTENER CLIENT "TCP" - BYTES_TO_CLIENT SECONDS pool= upstream= tries= end= sent=
// The HTTP line's fields in the HTTP line's places (status "-"), so one
// parser reads both; nothing here comes from the client's bytes.
void TcpSession::log_line() {
    AccessLog& log = w_.access_log();
    if (!log.enabled()) return;
    log.set_time(std::time(nullptr));
    const double s = std::chrono::duration<double>(Clock::now() - t0_).count();
    char line[768];
    const std::string_view stamp = log.stamp();
    const int n = std::snprintf(line, sizeof line,
                                "%.*s %.64s %.64s \"TCP\" - %llu %.6f pool=%.128s upstream=%.128s tries=%d end=%s "
                                "sent=%llu\n",
                                static_cast<int>(stamp.size()), stamp.data(), l_.spec.name.c_str(),
                                ip_.empty() ? "-" : ip_.c_str(), static_cast<unsigned long long>(received_), s,
                                pool_name_.empty() ? "-" : pool_name_.c_str(),
                                server_address_.empty() ? "-" : server_address_.c_str(), tries_, end_text(end_),
                                static_cast<unsigned long long>(sent_));
    if (n > 0) log.write_line(std::string_view(line, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1)));
}

void Worker::start_tcp_session(std::size_t li, tcp::socket sock) {
    std::make_shared<TcpSession>(*this, li, std::move(sock))->start();
}

}  // namespace vigil::proxy
