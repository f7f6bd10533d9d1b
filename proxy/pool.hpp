// Upstream pools as the workers see them, and the pure decisions made on
// them: which server takes a request (least_conn, round_robin) and passive
// health (nginx's max_fails / fail_timeout).
//
// Two kinds of data, on purpose:
//   - membership and admin state (Pool, ServerEntry) are immutable: the admin
//     thread builds a new Snapshot and hands it to every worker;
//   - live counters (ServerStats, PoolCounters) are shared atomics that carry
//     over from one snapshot to the next, so a state change never resets the
//     active-connection count that least_conn and draining depend on.
//
// Server states (admin, set by vigild):
//   up        takes new requests
//   draining  no new requests; in-flight ones finish; idle connections close
//   down      no new requests; idle connections close
// Passive health adds "ejected until T" on top of `up` (Envoy's outlier
// detection on nginx's counters): after max_fails failures within
// fail_timeout, or — opt-in — after eject_on_5xx 5xx answers in a row. The
// k-th ejection of a server in a row lasts k × fail_timeout, capped at
// max_ejection_time, plus up to 10 % jitter so that servers ejected together
// do not come back together; each fail_timeout without an ejection takes one
// off k. At most max_ejection_percent of a pool's `up` servers are ejected at
// once, and never the last one still available; when every `up` server is
// ejected anyway (races), selection ignores ejection rather than fail the
// request.
//
// Slow start (nginx's slow_start, HAProxy's slowstart): with a pool's
// `slow_start` > 0, a server that comes back — vigild's `up` after down,
// draining or an ejection (`start_ramp`), or the end of a passive ejection —
// is admitted for a new request with a probability growing linearly from 0
// to 1 over slow_start (`ramp_weight`), before the balance method chooses
// among the admitted servers; so its share of new requests ramps up in both
// round_robin and least_conn. The draw is a low-discrepancy sequence over
// the pool's ticket, not a random number: deterministic under test. When no
// other server is left, a ramping one takes the request anyway.
//
// Time is a TimePoint argument everywhere: unit tests pass a manual clock.
#pragma once

#include "proxy/admin_protocol.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"

namespace vigil::proxy {
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;


const char* to_string(config::Balance b) noexcept;

// Upper bounds (seconds) of the upstream latency histogram; +Inf is implied.
inline constexpr std::array<double, 12> latency_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

// Status classes: index 0 = the proxy answered without the server (502/504
// after a failure), 1..5 = 1xx..5xx.
inline int status_class(int status) noexcept { return status >= 100 && status < 600 ? status / 100 : 0; }

// Per-request counters (responses, latency) are sharded by worker: each
// worker thread adds to its own cache line (`stat_shard`, set when the
// worker starts: its index mod stat_shards) and GET /metrics sums the
// shards, so workers never bounce a counter's cache line between cores.
// Only what balancing needs live (`active`, the health fields) is shared.
inline constexpr std::size_t stat_shards = 16;
inline thread_local std::uint32_t stat_shard = 0;

struct alignas(64) ServerCounters {
    std::array<std::atomic<std::uint64_t>, 6> responses{};
    std::array<std::atomic<std::uint64_t>, latency_bounds.size() + 1> latency_buckets{};
    std::atomic<std::uint64_t> latency_count{0}, latency_sum_us{0};
    // TCP relays (proxy/tcp_session.cpp): connections, bytes each way
    // (sent: client to server), and closed connections' total time.
    std::atomic<std::uint64_t> tcp_connections{0}, tcp_bytes_sent{0}, tcp_bytes_received{0};
    std::atomic<std::uint64_t> tcp_closed{0}, tcp_seconds_us{0};
};

struct ServerStats {
    explicit ServerStats(std::uint32_t server_id) : id(server_id) {}
    const std::uint32_t id;  // index of this server's idle-connection list in each worker

    std::atomic<int> active{0};                 // requests in flight
    std::atomic<std::int64_t> ejected_until{0};  // ns on the steady clock; 0 = never
    std::atomic<int> fails{0};                   // failures in the current window
    std::atomic<std::int64_t> ramp_start{0};     // ns on the steady clock: back up at; 0 = never
    std::int64_t window_start = 0;               // guarded by the pool's health_mu
    int ejection_level = 0;                      // k of the next ejection - 1; guarded by health_mu
    std::atomic<int> consecutive_5xx{0};         // with eject_on_5xx
    std::atomic<std::uint64_t> ejections{0}, failures{0};

    std::array<ServerCounters, stat_shards> shards{};

    bool ejected(TimePoint now) const noexcept {
        return ejected_until.load(std::memory_order_relaxed) > now.time_since_epoch().count();
    }
    void observe_latency(std::chrono::nanoseconds d) noexcept;
    void count_response(int status_class) noexcept {
        shards[stat_shard].responses[static_cast<std::size_t>(status_class)].fetch_add(1, std::memory_order_relaxed);
    }
    // Sums over the shards (for /metrics).
    std::uint64_t responses(int status_class) const noexcept;
    std::uint64_t latency_bucket(std::size_t b) const noexcept;
    std::uint64_t latency_count() const noexcept;
    std::uint64_t latency_sum_us() const noexcept;
    ServerCounters& shard() noexcept { return shards[stat_shard]; }
    // Sum over the shards of one counter, for /metrics.
    std::uint64_t total(std::atomic<std::uint64_t> ServerCounters::*counter) const noexcept {
        std::uint64_t n = 0;
        for (const ServerCounters& c : shards) n += (c.*counter).load(std::memory_order_relaxed);
        return n;
    }
    std::atomic<std::uint64_t> tcp_cut{0};  // relays closed because the server was set down
};

struct PoolCounters {
    std::atomic<std::uint64_t> rr{0};  // round-robin ticket; also breaks least_conn ties
    std::atomic<std::uint64_t> retries{0};
    std::array<std::atomic<std::uint64_t>, 6> unserved{};  // answered by the proxy itself, by class
    std::atomic<std::uint64_t> tcp_unserved{0};  // TCP connections closed with no server within connect_timeout
    std::mutex health_mu;  // taken on failures only: fail windows and ejection
};

struct ServerEntry {
    std::string name;     // as in [upstream:*] servers (program name or host:port)
    std::string address;  // host:port as configured
    std::string ip;       // numeric, resolved when the snapshot was built
    std::uint16_t port = 0;
    ServerMode mode = ServerMode::up;
    // A role pool's member vigild has not pushed a state for yet (down
    // until it does): shown by the admin API, so the wait has a reason.
    bool held = false;
    std::shared_ptr<ServerStats> stats;
};

struct Pool {
    std::string name;
    config::Balance balance = config::Balance::least_conn;
    int max_fails = 3;
    std::chrono::milliseconds fail_timeout{30000};
    std::chrono::milliseconds slow_start{0};  // 0: a server back up gets its full share at once
    int max_ejection_percent = 50;            // of the pool's `up` servers, ejected at once
    std::chrono::milliseconds max_ejection_time{300000};
    int eject_on_5xx = 0;  // 5xx answers in a row that eject; 0 = off
    std::optional<config::Role> role;  // set: members start held (ServerEntry::held)
    std::vector<ServerEntry> servers;
    std::shared_ptr<PoolCounters> counters;
};

// Servers already tried for one request (retries go elsewhere). Pools larger
// than 64 servers simply stop excluding beyond the 64th.
class TriedSet {
public:
    void add(std::size_t i) noexcept { if (i < 64) bits_ |= std::uint64_t{1} << i; }
    bool has(std::size_t i) const noexcept { return i < 64 && (bits_ >> i & 1u); }
    void clear() noexcept { bits_ = 0; }
private:
    std::uint64_t bits_ = 0;
};

// Index into pool.servers for a new request, or -1 when no `up` server is
// left untried.
int pick_server(const Pool& pool, TimePoint now, const TriedSet& tried) noexcept;

// Passive health. A failure is a refused/reset/timed-out connection or an
// invalid response. Returns true when this failure ejected the server.
bool record_failure(const Pool& pool, std::size_t index, TimePoint now) noexcept;
void record_success(ServerStats& s) noexcept;
// The status of an answer the server gave, for eject_on_5xx. Returns true
// when this answer ejected the server.
bool record_status(const Pool& pool, std::size_t index, int status, TimePoint now) noexcept;

// How long the `level`-th ejection in a row (1, 2, …) of server `id` lasts:
// level × fail_timeout capped at max_ejection_time, plus a jitter of up to
// 10 % drawn from (id, ejections) — deterministic under test.
std::chrono::nanoseconds ejection_time(const Pool& pool, int level, std::uint32_t id,
                                       std::uint64_t ejections) noexcept;

// Clears passive state: an admin "up" means vigild saw the server healthy.
void clear_health(ServerStats& s) noexcept;

// The server is back from down, draining or ejected at `now`: slow start
// ramps from here.
void start_ramp(ServerStats& s, TimePoint now) noexcept;

// Slow-start weight in [0, 1] of a server at `now`: 1 when the pool has no
// slow_start or the ramp is over. The ramp starts at the later of
// start_ramp() and the end of the last passive ejection.
double ramp_weight(const Pool& pool, const ServerStats& s, TimePoint now) noexcept;

}  // namespace vigil::proxy
