// What every probe kind shares: the per-run deadline, exactly-once
// completion, and the guard that makes late completions of an abandoned run
// harmless. A kind implements start() (begin the I/O of a new run) and
// abort() (end that I/O), like Envoy's onInterval()/onTimeout().
//
// Internal to supervisor/health: include it from probe .cpp files only.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "supervisor/core/duration_text.hpp"
#include "supervisor/health/probe.hpp"

namespace vigil::health {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class ProbeBase : public Probe, public std::enable_shared_from_this<ProbeBase> {
public:
    void run(Callback done) final;
    void cancel() noexcept final;

protected:
    ProbeBase(asio::io_context& io, std::chrono::milliseconds timeout);

    // Begins the I/O of the current run; ends it through finish().
    virtual void start() = 0;
    // Ends the current run's I/O when it finishes, times out or is
    // cancelled; the handlers still pending then find the run over and do
    // nothing. `passed`: the run ended with a pass, so its connection is
    // sound and may be kept for the next run (end_connection()).
    virtual void abort(bool passed) noexcept = 0;

    // Ends the current run (the first call wins) and reports it.
    void finish(bool ok, std::string detail);

    // Wraps a completion handler of the current run: it runs only while that
    // run is still open, and an exception in it fails the run instead of
    // escaping into the io_context.
    template <class F>
    auto guard(F f) {
        // Constrained, so asio's overloads (range vs iterator connect) can
        // tell which completion signature the handler takes.
        return [self = shared_from_this(), gen = gen_, f = std::move(f)]<class... A>(A&&... args) mutable -> void
                   requires std::invocable<F&, A&&...> {
            if (gen != self->gen_ || !self->open_) return;
            const bool outer = self->in_handler_;
            self->in_handler_ = true;
            try {
                f(std::forward<A>(args)...);
            } catch (const std::exception& e) {
                self->finish(false, e.what());
            } catch (...) {
                self->finish(false, "unexpected error");
            }
            self->in_handler_ = outer;
            if (!outer) self->deliver();
        };
    }

    // For handlers that must run even after their run is over (an exec
    // probe still has to reap its child): they check this before finish().
    std::uint64_t run_id() const noexcept { return gen_; }
    bool is_current(std::uint64_t id) const noexcept { return id == gen_ && open_; }

    // Resolves host:port once and reuses the answer until a run fails, so a
    // probe every second does not ask the resolver every second. IP
    // literals never reach the resolver. `then(error)` runs with
    // endpoints() filled, at once when they are known.
    template <class Then>
    void resolve(const std::string& host, std::uint16_t port, Then then) {
        if (!endpoints_.empty()) return then(boost::system::error_code{});
        boost::system::error_code ec;
        const auto addr = asio::ip::make_address(host, ec);
        if (!ec) {
            endpoints_.emplace_back(addr, port);
            return then(boost::system::error_code{});
        }
        phase_ = "resolving";
        resolving_ = true;
        resolver_.async_resolve(host, std::to_string(port), tcp::resolver::numeric_service,
                                guard([this, then = std::move(then)](const boost::system::error_code& e,
                                                                     const tcp::resolver::results_type& r) mutable {
                                    resolving_ = false;
                                    if (!e) {
                                        endpoints_.clear();
                                        for (const auto& entry : r) endpoints_.push_back(entry.endpoint());
                                    }
                                    then(e);
                                }));
    }
    const std::vector<tcp::endpoint>& endpoints() const noexcept { return endpoints_; }

    // Connects `socket` (closed) to the first of endpoints() that accepts
    // and calls `then(error, endpoint)` (a guard()ed handler) from the event
    // loop. Unlike asio's async_connect it makes no poll() before reading
    // SO_ERROR: one system call less per TCP check (tests/bench,
    // health_bench).
    template <class Then>
    void connect_lean(tcp::socket& socket, Then then) {
        connect_from(socket, 0, {}, std::move(then));
    }

    asio::io_context& io_;
    std::chrono::milliseconds timeout_;
    const char* phase_ = "starting";  // named in the timeout message

private:
    void arm_deadline();
    void on_timeout();
    // Calls back the run that finish() ended inside a guard()ed handler.
    void deliver();

    template <class Then>
    void connect_from(tcp::socket& socket, std::size_t i, boost::system::error_code last, Then&& then) {
        for (; i < endpoints_.size(); ++i) {
            const tcp::endpoint ep = endpoints_[i];
            boost::system::error_code ec;
            const int r = connect_start(socket, ep, ec);
            if (r < 0) {
                last = ec;
                continue;
            }
            if (r == 0) {
                asio::post(io_, [then = std::move(then), ep]() mutable { then(boost::system::error_code{}, ep); });
                return;
            }
            socket.async_wait(tcp::socket::wait_write, [this, &socket, gen = gen_, i, ep, then = std::move(then)](
                                                           const boost::system::error_code& e) mutable {
                // `then` holds this probe (guard()) and the socket's run.
                if (e || !is_current(gen)) return then(e ? e : asio::error::operation_aborted, ep);
                const int so_error = connect_result(socket);
                if (so_error == 0) return then(boost::system::error_code{}, ep);
                connect_from(socket, i + 1, boost::system::error_code(so_error, boost::system::system_category()),
                             std::move(then));
            });
            return;
        }
        if (!last) last = asio::error::host_not_found;
        asio::post(io_, [then = std::move(then), last]() mutable { then(last, tcp::endpoint{}); });
    }
    // Opens `socket` (or takes the one park_with_reset() left open) and
    // starts a non-blocking connect to `ep`: 0 connected, 1 in progress, -1
    // failed (`ec`, the socket closed again).
    static int connect_start(tcp::socket& socket, const tcp::endpoint& ep, boost::system::error_code& ec) noexcept;
    // SO_ERROR of a connect that `socket` became writable for; closes the
    // socket when it is not 0.
    static int connect_result(tcp::socket& socket) noexcept;

    asio::steady_timer deadline_;
    tcp::resolver resolver_;
    std::vector<tcp::endpoint> endpoints_;
    Callback done_;
    ProbeResult result_;  // ended by finish() inside a guard()ed handler, delivered when it returns
    std::chrono::steady_clock::time_point started_{};
    std::chrono::steady_clock::time_point deadline_at_{};  // of the open run
    std::uint64_t deadline_gen_ = 0;                         // of the wait armed last
    bool deadline_armed_ = false;
    std::uint64_t gen_ = 0;
    bool open_ = false;
    bool in_run_ = false;
    bool in_handler_ = false;
    bool pending_ = false;
    bool resolving_ = false;
};

// Closes a probe's connection with a reset (SO_LINGER 0), as HAProxy closes
// its checks: a check every second must not leave a TIME_WAIT socket behind
// each time, which at hundreds of checks fills the ephemeral port range and
// makes every connect() search it.
void close_with_reset(tcp::socket& socket) noexcept;

// Resets a probe's connection as close_with_reset() does (the kernel sends
// an RST), but keeps the socket for the next run: connect(AF_UNSPEC)
// dissolves the connection and leaves the descriptor open, non-blocking and
// registered with the event loop, so the next check's connect() needs no
// socket(), ioctl, two epoll_ctl and close() of its own (tests/bench,
// health_bench). Returns false when the kernel refuses; the caller closes.
bool park_with_reset(tcp::socket& socket) noexcept;

// The end of a run's connection, for every probe kind that keeps one:
// parked when `keep` (the run passed) and the kernel agrees, otherwise
// closed with a reset. Returns whether it was parked.
bool end_connection(tcp::socket& socket, bool keep) noexcept;
// Before a new run on the same connection object: a socket still open that
// was not parked is closed with a reset; a parked one is connected again.
void prepare_connection(tcp::socket& socket, bool parked) noexcept;

// "2s", "1500ms": durations in details as the config writes them.
using core::duration_text;  // supervisor/core/duration_text.hpp
// Text from a server or command made safe for a one-line detail: control
// bytes become spaces (runs squeezed), ends trimmed, at most `max` bytes
// with "…" when cut.
std::string one_line(std::string_view text, std::size_t max = 200);

// Internal factories behind make_probe().
std::shared_ptr<Probe> make_http_probe(asio::io_context& io, const config::HealthCheck& hc);
std::shared_ptr<Probe> make_tcp_probe(asio::io_context& io, const config::HealthCheck& hc);
std::shared_ptr<Probe> make_redis_probe(asio::io_context& io, const config::HealthCheck& hc);
std::shared_ptr<Probe> make_postgres_probe(asio::io_context& io, const config::HealthCheck& hc);
std::shared_ptr<Probe> make_exec_probe(asio::io_context& io, const config::HealthCheck& hc, const ExecContext& ctx);

}  // namespace vigil::health
