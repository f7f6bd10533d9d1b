#include "proxy/pool.hpp"

#include <algorithm>

namespace vigil::proxy {

const char* to_string(config::Balance b) noexcept {
    return b == config::Balance::round_robin ? admin::balance::round_robin : admin::balance::least_conn;
}

void ServerStats::observe_latency(std::chrono::nanoseconds d) noexcept {
    const double s = std::chrono::duration<double>(d).count();
    std::size_t b = 0;
    while (b < latency_bounds.size() && s > latency_bounds[b]) ++b;
    ServerCounters& c = shards[stat_shard];
    c.latency_buckets[b].fetch_add(1, std::memory_order_relaxed);
    c.latency_count.fetch_add(1, std::memory_order_relaxed);
    c.latency_sum_us.fetch_add(static_cast<std::uint64_t>(d.count() / 1000), std::memory_order_relaxed);
}

namespace {
template <class Get>
std::uint64_t sum_shards(const std::array<ServerCounters, stat_shards>& shards, Get get) noexcept {
    std::uint64_t n = 0;
    for (const ServerCounters& c : shards) n += get(c).load(std::memory_order_relaxed);
    return n;
}
}  // namespace

std::uint64_t ServerStats::responses(int cls) const noexcept {
    return sum_shards(shards, [&](const ServerCounters& c) -> const auto& { return c.responses[static_cast<std::size_t>(cls)]; });
}
std::uint64_t ServerStats::latency_bucket(std::size_t b) const noexcept {
    return sum_shards(shards, [&](const ServerCounters& c) -> const auto& { return c.latency_buckets[b]; });
}
std::uint64_t ServerStats::latency_count() const noexcept {
    return sum_shards(shards, [](const ServerCounters& c) -> const auto& { return c.latency_count; });
}
std::uint64_t ServerStats::latency_sum_us() const noexcept {
    return sum_shards(shards, [](const ServerCounters& c) -> const auto& { return c.latency_sum_us; });
}

double ramp_weight(const Pool& pool, const ServerStats& s, TimePoint now) noexcept {
    if (pool.slow_start.count() <= 0) return 1.0;
    const std::int64_t t = now.time_since_epoch().count();
    const std::int64_t from = std::max(s.ramp_start.load(std::memory_order_relaxed),
                                       s.ejected_until.load(std::memory_order_relaxed));
    if (from <= 0 || from > t) return from > t ? 0.0 : 1.0;  // never ramped / still ejected
    const std::int64_t span = std::chrono::nanoseconds(pool.slow_start).count();
    const std::int64_t elapsed = t - from;
    return elapsed >= span ? 1.0 : static_cast<double>(elapsed) / static_cast<double>(span);
}

namespace {
// Fractional part of ticket·φ (+ a per-server offset): a Weyl sequence,
// evenly spread over [0, 1), so admitting when it falls below the weight
// admits a fraction `weight` of the tickets, deterministically.
double admission_draw(std::uint64_t ticket, std::size_t server) noexcept {
    const std::uint64_t x = (ticket + 1) * 0x9E3779B97F4A7C15ull + server * 0xD1B54A32D192ED03ull;
    return static_cast<double>(x >> 11) * 0x1.0p-53;
}
}  // namespace

int pick_server(const Pool& pool, TimePoint now, const TriedSet& tried) noexcept {
    const std::size_t n = pool.servers.size();
    if (n == 0) return -1;
    const std::uint64_t ticket = pool.counters->rr.fetch_add(1, std::memory_order_relaxed);
    const std::size_t start = ticket % n;
    const bool slow = pool.slow_start.count() > 0;

    // Passes: 0 = healthy servers admitted by slow start; 1 = healthy ones
    // (ramping servers when nothing else is left); 2 = ejected ones too, so
    // passive evidence alone never empties a pool.
    for (int pass = slow ? 0 : 1; pass < 3; ++pass) {
        int best = -1;
        int best_active = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t i = (start + k) % n;
            const ServerEntry& s = pool.servers[i];
            if (s.mode != ServerMode::up || tried.has(i)) continue;
            if (pass < 2 && s.stats->ejected(now)) continue;
            if (pass == 0) {
                const double w = ramp_weight(pool, *s.stats, now);
                if (w < 1.0 && admission_draw(ticket, i) >= w) continue;
            }
            if (pool.balance == config::Balance::round_robin) return static_cast<int>(i);
            const int a = s.stats->active.load(std::memory_order_relaxed);
            if (best < 0 || a < best_active) {
                best = static_cast<int>(i);
                best_active = a;
                if (a == 0) break;  // cannot do better; the rotating start spreads ties
            }
        }
        if (best >= 0) return best;
    }
    return -1;
}

namespace {

// Ejects pool.servers[index] if the pool's limits allow; health_mu held.
bool eject(const Pool& pool, std::size_t index, TimePoint now) noexcept {
    ServerStats& s = *pool.servers[index].stats;
    const std::int64_t t = now.time_since_epoch().count();
    // Never the last server still available, and at most
    // max_ejection_percent of the `up` ones (Envoy: only while the share
    // ejected is below it).
    std::size_t up = 0, ejected = 0;
    bool another = false;
    for (std::size_t i = 0; i < pool.servers.size(); ++i) {
        const ServerEntry& e = pool.servers[i];
        if (e.mode != ServerMode::up) continue;
        ++up;
        if (e.stats->ejected(now)) ++ejected;
        else if (i != index) another = true;
    }
    if (!another || ejected * 100 >= static_cast<std::size_t>(pool.max_ejection_percent) * up) return false;

    // Each fail_timeout since the last ejection ended forgives one level.
    const std::int64_t window = std::chrono::nanoseconds(pool.fail_timeout).count();
    const std::int64_t ended = s.ejected_until.load(std::memory_order_relaxed);
    if (ended > 0 && window > 0 && t > ended)
        s.ejection_level = static_cast<int>(std::max<std::int64_t>(0, s.ejection_level - (t - ended) / window));
    s.ejection_level = std::min(s.ejection_level + 1, 1000000);
    const auto n = s.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
    s.ejected_until.store(t + ejection_time(pool, s.ejection_level, s.id, n).count(), std::memory_order_relaxed);
    s.fails.store(0, std::memory_order_relaxed);
    s.consecutive_5xx.store(0, std::memory_order_relaxed);
    return true;
}

}  // namespace

std::chrono::nanoseconds ejection_time(const Pool& pool, int level, std::uint32_t id,
                                       std::uint64_t ejections) noexcept {
    using std::chrono::nanoseconds;
    const nanoseconds base = pool.fail_timeout;
    const nanoseconds cap = std::max<nanoseconds>(pool.max_ejection_time, base);
    // level × base without overflow: stop multiplying once past the cap.
    nanoseconds t = base.count() > 0 && level > cap / base ? cap : std::min(base * std::max(level, 1), cap);
    const std::uint64_t x = (ejections + 1) * 0x9E3779B97F4A7C15ull ^ (id + 1) * 0xD1B54A32D192ED03ull;
    const double jitter = static_cast<double>(x >> 11) * 0x1.0p-53 * 0.1;  // [0, 10 %)
    return t + nanoseconds(static_cast<std::int64_t>(static_cast<double>(t.count()) * jitter));
}

bool record_failure(const Pool& pool, std::size_t index, TimePoint now) noexcept {
    ServerStats& s = *pool.servers[index].stats;
    s.failures.fetch_add(1, std::memory_order_relaxed);
    if (pool.max_fails <= 0) return false;  // nginx: max_fails=0 disables accounting
    const std::int64_t t = now.time_since_epoch().count();
    const std::int64_t window = std::chrono::nanoseconds(pool.fail_timeout).count();

    std::lock_guard lock(pool.counters->health_mu);
    if (s.ejected(now)) return false;  // already out; late failures of in-flight requests
    int fails = s.fails.load(std::memory_order_relaxed);
    if (fails == 0 || t - s.window_start > window) {
        s.window_start = t;
        fails = 0;
    }
    ++fails;
    s.fails.store(fails, std::memory_order_relaxed);
    return fails >= pool.max_fails && eject(pool, index, now);
}

bool record_status(const Pool& pool, std::size_t index, int status, TimePoint now) noexcept {
    if (pool.eject_on_5xx <= 0) return false;
    ServerStats& s = *pool.servers[index].stats;
    if (status < 500 || status > 599) {
        if (s.consecutive_5xx.load(std::memory_order_relaxed) != 0) s.consecutive_5xx.store(0, std::memory_order_relaxed);
        return false;
    }
    if (s.consecutive_5xx.fetch_add(1, std::memory_order_relaxed) + 1 < pool.eject_on_5xx) return false;
    std::lock_guard lock(pool.counters->health_mu);
    if (s.ejected(now)) return false;
    return eject(pool, index, now);
}

void record_success(ServerStats& s) noexcept {
    // Hot path: one relaxed load when the server is healthy.
    if (s.fails.load(std::memory_order_relaxed) != 0) s.fails.store(0, std::memory_order_relaxed);
}

void clear_health(ServerStats& s) noexcept {
    s.fails.store(0, std::memory_order_relaxed);
    s.ejected_until.store(0, std::memory_order_relaxed);
}

void start_ramp(ServerStats& s, TimePoint now) noexcept {
    s.ramp_start.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

}  // namespace vigil::proxy
