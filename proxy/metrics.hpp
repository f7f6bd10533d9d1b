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
    // Responses sent by status class, sharded by worker like ServerStats' (pool.hpp).
    struct alignas(64) Shard {
        std::array<std::atomic<std::uint64_t>, 6> responses{};
        std::atomic<std::uint64_t> bytes_in{0}, bytes_out{0};  // mode = tcp: from and to clients
    };
    std::array<Shard, stat_shards> shards{};
    void count_response(int status_class) noexcept {
        shards[stat_shard].responses[static_cast<std::size_t>(status_class)].fetch_add(1, std::memory_order_relaxed);
    }
    std::uint64_t responses(int status_class) const noexcept {
        std::uint64_t n = 0;
        for (const Shard& s : shards) n += s.responses[static_cast<std::size_t>(status_class)].load(std::memory_order_relaxed);
        return n;
    }
    std::atomic<std::uint64_t> rate_limited{0};             // 429s
    std::atomic<std::uint64_t> rejected{0};                 // 400/408/413/417/431 from the proxy
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::int64_t> connections_active{0};
    std::atomic<std::uint64_t> tls_handshake_failures{0};
    bool tcp = false;  // a mode = tcp listener: bytes, not responses
    Shard& shard() noexcept { return shards[stat_shard]; }
    std::uint64_t bytes(bool in) const noexcept {
        std::uint64_t n = 0;
        for (const Shard& s : shards) n += (in ? s.bytes_in : s.bytes_out).load(std::memory_order_relaxed);
        return n;
    }
};

std::string render_metrics(const Snapshot& snap, const std::vector<std::unique_ptr<ListenerStats>>& listeners);

}  // namespace vigil::proxy
