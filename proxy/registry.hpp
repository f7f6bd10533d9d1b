// The admin thread's source of truth for pools and routes. Every change
// (vigild's pushes through the admin API) builds a new immutable Snapshot;
// the I/O layer hands it to the workers. Pure: no sockets, no threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "proxy/pool.hpp"
#include "proxy/routes.hpp"

namespace vigil::proxy {

// One [proxy:*] section, fixed for the life of the process.
struct ListenerSpec {
    std::string name;
    std::string host;  // numeric, resolved at startup
    std::uint16_t port = 0;
    std::string tls_cert, tls_key;  // both empty: plain HTTP
    std::vector<config::Route> routes;
    std::optional<int> rate_limit_per_min;
    // mode = tcp (proxy/tcp_session.hpp): bytes relayed to one server of
    // routes[0]'s pool; no HTTP, no TLS.
    bool tcp = false;
    std::chrono::milliseconds idle_timeout{3600000};             // 0: none
    std::optional<std::chrono::milliseconds> connect_timeout;    // unset: --connect-timeout
    bool tls() const { return !tls_cert.empty(); }
};

struct Snapshot {
    std::uint64_t version = 0;
    std::vector<Pool> pools;
    std::vector<RouteTable> routes;  // one per listener, in ListenerSpec order
    std::uint32_t server_ids = 0;    // every ServerStats::id is below this

    const Pool* find_pool(std::string_view name) const noexcept;
};

// "host:port" or "[v6]:port" → numeric ip and port (getaddrinfo for names).
bool resolve_address(std::string_view address, std::string& ip, std::uint16_t& port);

struct PoolSpec {
    std::string name;
    config::Balance balance = config::Balance::least_conn;
    int max_fails = 3;
    std::chrono::milliseconds fail_timeout{30000};
    std::optional<std::chrono::milliseconds> slow_start;  // unset: keep the pool's (0 for a new pool)
    // Unset: keep the pool's (the defaults of config::Upstream for a new pool).
    std::optional<int> max_ejection_percent;
    std::optional<std::chrono::milliseconds> max_ejection_time;
    std::optional<int> eject_on_5xx;
    std::vector<std::pair<std::string, std::string>> servers;  // name, address
    // Parallel to servers when given: the state of a server new to the pool
    // (one it already has keeps its own). Unset: up, or held in a role pool.
    std::vector<std::optional<ServerMode>> modes;
};

class Registry {
public:
    // Outcome of an admin operation, as an HTTP status and a message.
    struct Status {
        int http = 200;
        std::string message;
        bool ok() const { return http < 300; }
    };

    // Listeners and pools from the shared config. Errors are `file:line: message`.
    static std::optional<Registry> from_config(const config::Config& cfg, std::vector<std::string>& errors);

    const std::vector<ListenerSpec>& listeners() const noexcept { return listeners_; }
    std::shared_ptr<const Snapshot> snapshot() const noexcept { return snap_; }

    // `now` starts slow-start ramps (a server back up, a server added to a live pool).
    Status set_mode(std::string_view pool, std::string_view server, ServerMode mode, TimePoint now = Clock::now());
    Status put_server(std::string_view pool, std::string_view server, std::string_view address,
                      std::optional<ServerMode> mode, TimePoint now = Clock::now());
    Status remove_server(std::string_view pool, std::string_view server);
    // Creates or replaces membership and settings.
    Status put_pool(const PoolSpec& spec, TimePoint now = Clock::now());
    Status remove_pool(std::string_view pool);

private:
    Registry() = default;
    void publish(std::vector<Pool> pools);
    std::shared_ptr<ServerStats> new_stats() { return std::make_shared<ServerStats>(next_id_++); }
    Status make_entry(std::string_view name, std::string_view address, ServerMode mode, ServerEntry& out);

    std::vector<ListenerSpec> listeners_;
    std::shared_ptr<const Snapshot> snap_;
    std::uint32_t next_id_ = 0;
    std::uint64_t version_ = 0;
};

}  // namespace vigil::proxy
