#include "proxy/rate_limiter.hpp"

#include <cmath>
#include <cstring>

namespace vigil::proxy {

RateLimiter::RateLimiter(int per_minute, std::size_t max_clients)
    : per_minute_(per_minute > 0 ? per_minute : 1),
      per_ns_(per_minute_ / 60e9),
      max_per_shard_(max_clients / shard_count + 1) {}

std::size_t RateLimiter::KeyHash::operator()(const ClientKey& k) const noexcept {
    std::uint64_t a, b;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    std::uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
    return static_cast<std::size_t>(h ^ (h >> 31));
}

RateLimiter::Decision RateLimiter::check(const ClientKey& client, TimePoint now) {
    const std::int64_t t = now.time_since_epoch().count();
    Shard& shard = shards_[KeyHash{}(client) % shard_count];
    std::lock_guard lock(shard.mu);
    auto [it, fresh] = shard.buckets.try_emplace(client, Bucket{static_cast<double>(per_minute_), t});
    Bucket& b = it->second;
    if (!fresh) {
        b.tokens = std::min<double>(per_minute_, b.tokens + static_cast<double>(t - b.last_ns) * per_ns_);
        b.last_ns = t;
    }
    if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        if (fresh && shard.buckets.size() > max_per_shard_) sweep(shard, t);
        return {true, 0};
    }
    const double wait_s = (1.0 - b.tokens) / (per_ns_ * 1e9);
    return {false, std::max(1, static_cast<int>(std::ceil(wait_s)))};
}

// Drops buckets that have refilled completely: forgetting them changes nothing.
void RateLimiter::sweep(Shard& shard, std::int64_t now_ns) {
    for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
        const double tokens = it->second.tokens + static_cast<double>(now_ns - it->second.last_ns) * per_ns_;
        if (tokens >= per_minute_) it = shard.buckets.erase(it);
        else ++it;
    }
}

}  // namespace vigil::proxy
