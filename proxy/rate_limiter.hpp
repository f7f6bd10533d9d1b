// Per-client-IP token bucket: `per_minute` tokens of burst, refilled at
// per_minute/60 a second. One limiter per [proxy:*] listener, shared by all
// workers: a client's connections land on different workers (SO_REUSEPORT
// hashes by port), so per-worker buckets would multiply its allowance.
// Sharded by address hash so workers rarely meet on the same mutex; only
// listeners with `rate_limit` set pay for it at all.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "proxy/pool.hpp"

namespace vigil::proxy {

// An IPv4 or IPv6 address, IPv4 mapped into the first four bytes.
using ClientKey = std::array<std::uint8_t, 16>;

class RateLimiter {
public:
    struct Decision {
        bool allowed = true;
        int retry_after_s = 0;  // for the 429's Retry-After
    };

    explicit RateLimiter(int per_minute, std::size_t max_clients = 1u << 16);

    Decision check(const ClientKey& client, TimePoint now);
    int per_minute() const noexcept { return per_minute_; }

private:
    struct Bucket {
        double tokens;
        std::int64_t last_ns;
    };
    struct KeyHash {
        std::size_t operator()(const ClientKey& k) const noexcept;
    };
    struct Shard {
        std::mutex mu;
        std::unordered_map<ClientKey, Bucket, KeyHash> buckets;
    };
    static constexpr std::size_t shard_count = 16;

    void sweep(Shard& shard, std::int64_t now_ns);

    int per_minute_;
    double per_ns_;
    std::size_t max_per_shard_;
    std::array<Shard, shard_count> shards_;
};

}  // namespace vigil::proxy
