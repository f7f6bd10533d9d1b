// Prometheus text for GET /metrics (names vigil_proxy_*). Pure: reads the
// snapshot's shared counters and the per-listener counters.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/registry.hpp"

namespace vigil::proxy {

// Per [proxy:*] listener, shared by all workers (relaxed atomics).
struct ListenerStats {
    std::string name;
    std::array<std::atomic<std::uint64_t>, 6> responses{};  // by status class, all responses sent
    std::atomic<std::uint64_t> rate_limited{0};             // 429s
    std::atomic<std::uint64_t> rejected{0};                 // 400/408/413/417/431 from the proxy
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::int64_t> connections_active{0};
    std::atomic<std::uint64_t> tls_handshake_failures{0};
};

std::string render_metrics(const Snapshot& snap, const std::vector<std::unique_ptr<ListenerStats>>& listeners);

}  // namespace vigil::proxy
