// The admin API between vigild (supervisor/proxy_link.cpp) and vigil-proxy
// (proxy/admin_api.cpp), defined once for both binaries: the routes, the
// JSON field names and the server modes. Header-only and dependency-free, so
// vigild includes it without linking anything of the proxy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::proxy {

// A pool member's admin state, set by vigild: `up` takes new requests,
// `draining` finishes what it has, `down` gets nothing.
enum class ServerMode : std::uint8_t { up, down, draining };

constexpr const char* to_string(ServerMode m) noexcept {
    switch (m) {
        case ServerMode::up: return "up";
        case ServerMode::down: return "down";
        case ServerMode::draining: return "draining";
    }
    return "down";
}

constexpr std::optional<ServerMode> parse_mode(std::string_view s) noexcept {
    if (s == "up") return ServerMode::up;
    if (s == "down") return ServerMode::down;
    if (s == "draining") return ServerMode::draining;
    return std::nullopt;
}

namespace admin {

inline constexpr int version = 1;  // the path prefix below

// Routes. Pool and server names are process names and addresses: no byte
// that needs escaping in a path segment ('/' is refused by the config).
inline constexpr std::string_view pools = "/v1/pools";
inline constexpr std::string_view metrics = "/metrics";
inline std::string pool(std::string_view name) { return std::string(pools) + "/" + std::string(name); }
inline std::string server(std::string_view pool_name, std::string_view name) {
    return pool(pool_name) + "/servers/" + std::string(name);
}
inline std::string server_state(std::string_view pool_name, std::string_view name) {
    return server(pool_name, name) + "/state";
}

// JSON fields: PUT of a pool, POST of a state, and the GET answers.
namespace field {
inline constexpr const char* state = "state";
inline constexpr const char* balance = "balance";
inline constexpr const char* max_fails = "max_fails";
inline constexpr const char* fail_timeout_ms = "fail_timeout_ms";
inline constexpr const char* slow_start_ms = "slow_start_ms";
inline constexpr const char* max_ejection_percent = "max_ejection_percent";
inline constexpr const char* max_ejection_time_ms = "max_ejection_time_ms";
inline constexpr const char* eject_on_5xx = "eject_on_5xx";
inline constexpr const char* ejected_ms = "ejected_ms";  // remaining time of the current ejection
inline constexpr const char* ejected = "ejected";  // passive health took it out for now
// A role pool's member vigild has not pushed a state for yet: down until it does.
inline constexpr const char* held = "held";
inline constexpr const char* role = "role";  // primary, replica, or null
inline constexpr const char* fails = "fails";
inline constexpr const char* failures_total = "failures_total";
inline constexpr const char* ejections_total = "ejections_total";
inline constexpr const char* active = "active";  // requests in flight (a rolling restart's drain counts them)
inline constexpr const char* servers = "servers";
inline constexpr const char* name = "name";
inline constexpr const char* address = "address";
inline constexpr const char* pools = "pools";
inline constexpr const char* version = "version";
}  // namespace field

// The values of field::balance.
namespace balance {
inline constexpr const char* round_robin = "round_robin";
inline constexpr const char* least_conn = "least_conn";
}  // namespace balance

}  // namespace admin
}  // namespace vigil::proxy
