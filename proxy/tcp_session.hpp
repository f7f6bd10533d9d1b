// One client connection of a `mode = tcp` listener: an L4 relay to one
// server of the listener's pool (PostgreSQL, Redis). The rules, which
// docs/proxy.md ("TCP listeners") states for users:
//
//   - the server is the pool's balance choice among its `up` servers; a
//     refused or timed-out connect (connect_timeout) goes to the next one,
//     which is safe since the client has sent nothing anywhere yet;
//   - no usable server (a failover under way, a restarted proxy whose role
//     pools vigild has not told yet, every server refusing): the client is
//     held, not closed, until a pool change brings one or connect_timeout
//     has passed since it was accepted;
//   - bytes flow both ways as they come; an EOF on one side becomes a
//     shutdown(SHUT_WR) on the other, and the connection ends when both
//     directions have; a reset or an error closes both at once;
//   - no byte either way for idle_timeout closes both;
//   - the server set `down` (or removed from the pool) closes both at once:
//     a demoted primary keeps no client writing to it; `draining` lets the
//     connection go on;
//   - a graceful stop leaves relays flowing until the grace period ends.
#pragma once

#include "proxy/worker.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>

namespace vigil::proxy {

class TcpSession final : public SessionBase, public std::enable_shared_from_this<TcpSession> {
public:
    TcpSession(Worker& w, std::size_t listener, tcp::socket client);
    ~TcpSession() override;

    void start();

    void on_timeout() override;
    void on_stop() override {}  // relays flow on until the grace period ends
    void on_pools_changed() override;

    // Why a connection ended, for the access log.
    enum class End : std::uint8_t { none, done, client_reset, server_reset, idle, server_down, no_server, stopped };

private:
    asio::awaitable<void> run();
    // Picks and connects a server, waiting for one when none is usable.
    asio::awaitable<bool> connect_server();
    asio::awaitable<void> pump(bool to_server);
    void close_all(End why);
    void finish();
    void arm_idle() noexcept;
    void log_line();

    Worker& w_;
    std::size_t li_;
    const ListenerShared& l_;
    tcp::socket client_, server_sock_;
    asio::steady_timer wake_;  // the wait for a usable server
    std::string ip_;
    std::chrono::milliseconds connect_timeout_;

    std::string pool_name_, server_address_;
    std::shared_ptr<ServerStats> server_;        // the chosen server's counters (active, bytes)
    std::shared_ptr<PoolCounters> pool_counters_;
    bool active_counted_ = false;

    enum class Phase : std::uint8_t { choosing, waiting, connecting, relaying, closed } phase_ = Phase::choosing;
    bool connect_timed_out_ = false, abandon_connect_ = false;
    End end_ = End::none;
    int pumps_ = 0, tries_ = 0;
    std::uint64_t sent_ = 0, received_ = 0;  // client → server, server → client
    TimePoint t0_;
    std::unique_ptr<char[]> buf_;  // two halves, one per direction
};

}  // namespace vigil::proxy
