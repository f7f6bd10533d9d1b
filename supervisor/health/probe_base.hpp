// What every probe kind shares: the per-run deadline, exactly-once
// completion, and the guard that makes late completions of an abandoned run
// harmless. A kind implements start() (begin the I/O of a new run) and
// abort() (close that I/O), like Envoy's onInterval()/onTimeout().
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

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

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
    // Closes the current run's I/O after a timeout or cancel(); the handlers
    // still pending then find the run over and do nothing.
    virtual void abort() noexcept = 0;

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
            try {
                f(std::forward<A>(args)...);
            } catch (const std::exception& e) {
                self->finish(false, e.what());
            } catch (...) {
                self->finish(false, "unexpected error");
            }
        };
    }

    // For handlers that must run even after their run is over (an exec
    // probe still has to reap its child): they check this before finish().
    std::uint64_t run_id() const noexcept { return gen_; }
    bool is_current(std::uint64_t id) const noexcept { return id == gen_ && open_; }

    // Resolves host:port once and reuses the answer until a run fails, so a
    // probe every second does not ask the resolver every second. IP
    // literals never reach the resolver.
    using Endpoints = tcp::resolver::results_type;
    void resolve(const std::string& host, std::uint16_t port,
                 std::function<void(const boost::system::error_code&, const Endpoints&)> then);

    asio::io_context& io_;
    std::chrono::milliseconds timeout_;
    const char* phase_ = "starting";  // named in the timeout message

private:
    void on_timeout(std::uint64_t gen);

    asio::steady_timer deadline_;
    tcp::resolver resolver_;
    std::optional<Endpoints> endpoints_;
    Callback done_;
    std::chrono::steady_clock::time_point started_{};
    std::uint64_t gen_ = 0;
    bool open_ = false;
};

// Closes a probe's connection with a reset (SO_LINGER 0), as HAProxy closes
// its checks: a check every second must not leave a TIME_WAIT socket behind
// each time, which at hundreds of checks fills the ephemeral port range and
// makes every connect() search it.
void close_with_reset(tcp::socket& socket) noexcept;

// Connects `socket` (closed) to the first of `endpoints` that accepts and
// calls `then(error, endpoint)` from the event loop. Unlike asio's
// async_connect it makes no poll() before reading SO_ERROR: one system call
// of nine per TCP check (tests/bench, health_bench).
void connect_lean(tcp::socket& socket, const tcp::resolver::results_type& endpoints,
                  std::function<void(const boost::system::error_code&, const tcp::endpoint&)> then);

// "2s", "1500ms": durations in details as the config writes them.
std::string duration_text(std::chrono::milliseconds d);
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
