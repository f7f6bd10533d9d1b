// Balancing and passive health on a manual clock.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "proxy/pool.hpp"
#include "proxy/rate_limiter.hpp"
#include "proxy/routes.hpp"

using namespace vigil::proxy;
using namespace std::chrono_literals;

namespace {
Pool make_pool(int n, vigil::config::Balance b = vigil::config::Balance::least_conn, int max_fails = 3) {
    Pool p;
    p.name = "p";
    p.balance = b;
    p.max_fails = max_fails;
    p.fail_timeout = 30s;
    p.counters = std::make_shared<PoolCounters>();
    for (int i = 0; i < n; ++i) {
        ServerEntry e;
        e.name = "s" + std::to_string(i);
        e.stats = std::make_shared<ServerStats>(static_cast<std::uint32_t>(i));
        p.servers.push_back(e);
    }
    return p;
}
const TimePoint t0 = TimePoint(1000s);
}  // namespace

TEST_CASE("round_robin visits every up server in turn", "[pool]") {
    Pool p = make_pool(3, vigil::config::Balance::round_robin);
    std::map<int, int> seen;
    for (int i = 0; i < 300; ++i) ++seen[pick_server(p, t0, {})];
    CHECK(seen[0] == 100);
    CHECK(seen[1] == 100);
    CHECK(seen[2] == 100);
}

TEST_CASE("least_conn picks the server with fewest active requests, ties rotate", "[pool]") {
    Pool p = make_pool(3);
    p.servers[0].stats->active = 5;
    p.servers[1].stats->active = 2;
    p.servers[2].stats->active = 7;
    CHECK(pick_server(p, t0, {}) == 1);
    p.servers[1].stats->active = 0;
    p.servers[0].stats->active = 0;
    std::map<int, int> seen;
    for (int i = 0; i < 100; ++i) ++seen[pick_server(p, t0, {})];
    CHECK(seen[2] == 0);
    CHECK(seen[0] > 20);
    CHECK(seen[1] > 20);
}

TEST_CASE("down and draining servers get no new requests, tried servers are skipped", "[pool]") {
    Pool p = make_pool(3, vigil::config::Balance::round_robin);
    p.servers[0].mode = ServerMode::down;
    p.servers[1].mode = ServerMode::draining;
    for (int i = 0; i < 10; ++i) CHECK(pick_server(p, t0, {}) == 2);
    TriedSet tried;
    tried.add(2);
    CHECK(pick_server(p, t0, tried) == -1);
}

TEST_CASE("max_fails within fail_timeout ejects for fail_timeout, plus under 10 % jitter", "[pool][health]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin, 3);
    CHECK_FALSE(record_failure(p, 0, t0));
    CHECK_FALSE(record_failure(p, 0, t0 + 1s));
    CHECK(record_failure(p, 0, t0 + 2s));
    CHECK(p.servers[0].stats->ejected(t0 + 2s));
    for (int i = 0; i < 10; ++i) CHECK(pick_server(p, t0 + 3s, {}) == 1);
    CHECK(p.servers[0].stats->ejected(t0 + 32s - 1ms));
    CHECK_FALSE(p.servers[0].stats->ejected(t0 + 35s));
    CHECK(p.servers[0].stats->ejections == 1);
}

namespace {
// When the current ejection of server i ends.
TimePoint ejected_until(const Pool& p, std::size_t i) {
    return TimePoint(std::chrono::nanoseconds(p.servers[i].stats->ejected_until.load()));
}
}  // namespace

TEST_CASE("ejection time grows with ejections in a row, is capped, and healthy time forgives", "[pool][health]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin, 1);
    p.max_ejection_time = 100s;
    TimePoint t = t0;
    std::vector<double> lasted;  // seconds, each ejection in a row
    for (int k = 0; k < 5; ++k) {
        REQUIRE(record_failure(p, 0, t));
        const TimePoint until = ejected_until(p, 0);
        lasted.push_back(std::chrono::duration<double>(until - t).count());
        t = until + 1s;  // fails again right after coming back
    }
    // 30, 60, 90, then the 100 s cap; each plus its jitter below 10 %.
    const double base[] = {30, 60, 90, 100, 100};
    for (std::size_t k = 0; k < lasted.size(); ++k) {
        CHECK(lasted[k] >= base[k]);
        CHECK(lasted[k] < base[k] * 1.1);
    }
    // Three fail_timeouts of health take three of the five levels off: the
    // next ejection is the third in a row, 3 × 30 s.
    t = ejected_until(p, 0) + 90s + 1s;
    REQUIRE(record_failure(p, 0, t));
    const double next = std::chrono::duration<double>(ejected_until(p, 0) - t).count();
    CHECK(next >= 90);
    CHECK(next < 99);
}

TEST_CASE("jitter spreads servers ejected together", "[pool][health]") {
    Pool p = make_pool(4);
    std::set<std::int64_t> times;
    for (std::uint32_t id = 0; id < 4; ++id) {
        const auto d = ejection_time(p, 1, id, 1);
        CHECK(d >= 30s);
        CHECK(d < 33s);
        times.insert(d.count());
    }
    CHECK(times.size() == 4);
    CHECK(ejection_time(p, 1, 0, 1) == ejection_time(p, 1, 0, 1));  // deterministic
}

TEST_CASE("max_ejection_percent bounds the share of a pool ejected at once", "[pool][health]") {
    Pool p = make_pool(4, vigil::config::Balance::round_robin, 1);  // default 50 %
    CHECK(record_failure(p, 0, t0));
    CHECK(record_failure(p, 1, t0));
    CHECK_FALSE(record_failure(p, 2, t0));  // 2 of 4 are out already
    CHECK_FALSE(p.servers[2].stats->ejected(t0));
    Pool q = make_pool(4, vigil::config::Balance::round_robin, 1);
    q.max_ejection_percent = 100;
    CHECK(record_failure(q, 0, t0));
    CHECK(record_failure(q, 1, t0));
    CHECK(record_failure(q, 2, t0));
    CHECK_FALSE(record_failure(q, 3, t0));  // still never the last one
    Pool off = make_pool(4, vigil::config::Balance::round_robin, 1);
    off.max_ejection_percent = 0;
    CHECK_FALSE(record_failure(off, 0, t0));
}

TEST_CASE("eject_on_5xx: N 5xx answers in a row eject, any other answer resets, off by default", "[pool][health]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin);
    for (int i = 0; i < 10; ++i) CHECK_FALSE(record_status(p, 0, 503, t0));
    p.eject_on_5xx = 3;
    CHECK_FALSE(record_status(p, 0, 500, t0));
    CHECK_FALSE(record_status(p, 0, 502, t0));
    CHECK_FALSE(record_status(p, 0, 404, t0));  // a 4xx is the client's fault: resets
    CHECK_FALSE(record_status(p, 0, 500, t0));
    CHECK_FALSE(record_status(p, 0, 500, t0));
    CHECK(record_status(p, 0, 599, t0));
    CHECK(p.servers[0].stats->ejected(t0 + 29s));
    CHECK(p.servers[0].stats->ejections == 1);
}

TEST_CASE("failures spread wider than fail_timeout do not eject", "[pool][health]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin, 2);
    CHECK_FALSE(record_failure(p, 0, t0));
    CHECK_FALSE(record_failure(p, 0, t0 + 31s));  // new window
    CHECK(record_failure(p, 0, t0 + 32s));
}

TEST_CASE("a success resets the failure count", "[pool][health]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin, 2);
    CHECK_FALSE(record_failure(p, 0, t0));
    record_success(*p.servers[0].stats);
    CHECK_FALSE(record_failure(p, 0, t0 + 1s));
}

TEST_CASE("the last available server is never ejected on passive evidence", "[pool][health]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin, 1);
    CHECK(record_failure(p, 0, t0));
    CHECK_FALSE(record_failure(p, 1, t0));  // would empty the pool
    CHECK_FALSE(p.servers[1].stats->ejected(t0));
    Pool single = make_pool(1, vigil::config::Balance::least_conn, 1);
    for (int i = 0; i < 5; ++i) CHECK_FALSE(record_failure(single, 0, t0));
    CHECK(pick_server(single, t0, {}) == 0);
}

TEST_CASE("if every up server is ejected anyway, selection still answers", "[pool][health]") {
    Pool p = make_pool(2, vigil::config::Balance::least_conn, 1);
    p.servers[0].stats->ejected_until = (t0 + 10s).time_since_epoch().count();
    p.servers[1].stats->ejected_until = (t0 + 10s).time_since_epoch().count();
    CHECK(pick_server(p, t0, {}) >= 0);
    clear_health(*p.servers[0].stats);
    CHECK(pick_server(p, t0, {}) == 0);
}

namespace {
// Share of `picks` requests that server 0 gets at `now` (no request finishes
// in between for least_conn: every server stays at active 0).
double share0(const Pool& p, TimePoint now, int picks = 2000) {
    int hits = 0;
    for (int i = 0; i < picks; ++i) hits += pick_server(p, now, {}) == 0;
    return static_cast<double>(hits) / picks;
}
}  // namespace

TEST_CASE("slow_start: a server back up ramps linearly from 0 to its full share, round_robin", "[pool][slow_start]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin);
    p.slow_start = 10s;
    CHECK(share0(p, t0) == Approx(0.5).margin(0.01));  // never ramped: full share
    start_ramp(*p.servers[0].stats, t0);
    CHECK(ramp_weight(p, *p.servers[0].stats, t0) == 0.0);
    CHECK(ramp_weight(p, *p.servers[0].stats, t0 + 2500ms) == Approx(0.25));
    CHECK(ramp_weight(p, *p.servers[1].stats, t0 + 2500ms) == 1.0);
    CHECK(share0(p, t0) < 0.005);
    const double s1 = share0(p, t0 + 1s), s5 = share0(p, t0 + 5s), s9 = share0(p, t0 + 9s);
    CHECK(s1 == Approx(0.05).margin(0.015));  // weight 0.1 of a 2-way rotation
    CHECK(s5 == Approx(0.25).margin(0.02));
    CHECK(s9 == Approx(0.45).margin(0.02));
    CHECK(share0(p, t0 + 10s) == Approx(0.5).margin(0.01));
    CHECK(share0(p, t0 + 60s) == Approx(0.5).margin(0.01));
}

TEST_CASE("slow_start: least_conn admits a ramping server in proportion to its weight", "[pool][slow_start]") {
    Pool p = make_pool(3);
    p.slow_start = 20s;
    start_ramp(*p.servers[0].stats, t0);
    CHECK(share0(p, t0 + 2s) == Approx(0.1 / 3).margin(0.015));
    CHECK(share0(p, t0 + 10s) == Approx(0.5 / 3).margin(0.02));
    CHECK(share0(p, t0 + 20s) == Approx(1.0 / 3).margin(0.02));
    // Under load it is still picked only when admitted, however idle it is.
    p.servers[1].stats->active = 9;
    p.servers[2].stats->active = 9;
    const double busy = share0(p, t0 + 5s);
    CHECK(busy == Approx(0.25).margin(0.02));
}

TEST_CASE("slow_start: a lone or last server takes requests while it ramps", "[pool][slow_start]") {
    Pool single = make_pool(1, vigil::config::Balance::least_conn);
    single.slow_start = 10s;
    start_ramp(*single.servers[0].stats, t0);
    for (int i = 0; i < 10; ++i) CHECK(pick_server(single, t0, {}) == 0);
    Pool p = make_pool(2, vigil::config::Balance::round_robin);
    p.slow_start = 10s;
    start_ramp(*p.servers[0].stats, t0);
    p.servers[1].mode = ServerMode::down;
    for (int i = 0; i < 10; ++i) CHECK(pick_server(p, t0, {}) == 0);
    TriedSet tried;
    tried.add(1);
    p.servers[1].mode = ServerMode::up;
    CHECK(pick_server(p, t0, tried) == 0);  // a retry can land on it
}

TEST_CASE("slow_start: the end of a passive ejection starts a ramp", "[pool][slow_start][health]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin, 1);
    p.slow_start = 10s;
    REQUIRE(record_failure(p, 0, t0));  // ejected until t0 + 30s and its jitter
    const TimePoint back = ejected_until(p, 0);
    CHECK(share0(p, t0 + 10s) == 0.0);
    CHECK(share0(p, back) < 0.005);
    CHECK(share0(p, back + 5s) == Approx(0.25).margin(0.02));
    CHECK(share0(p, back + 10s) == Approx(0.5).margin(0.01));
}

TEST_CASE("slow_start = 0: a server back up gets its full share at once", "[pool][slow_start]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin);
    start_ramp(*p.servers[0].stats, t0);
    CHECK(ramp_weight(p, *p.servers[0].stats, t0) == 1.0);
    CHECK(share0(p, t0) == Approx(0.5).margin(0.01));
}

TEST_CASE("rate limiter: burst of N, then refill at N per minute, per client", "[ratelimit]") {
    RateLimiter rl(60);
    ClientKey a{}, b{};
    a[0] = 1;
    b[0] = 2;
    for (int i = 0; i < 60; ++i) REQUIRE(rl.check(a, t0).allowed);
    auto d = rl.check(a, t0);
    CHECK_FALSE(d.allowed);
    CHECK(d.retry_after_s == 1);
    CHECK(rl.check(b, t0).allowed);  // another client is unaffected
    CHECK_FALSE(rl.check(a, t0 + 500ms).allowed);
    CHECK(rl.check(a, t0 + 1001ms).allowed);
    RateLimiter slow(2);
    CHECK(slow.check(a, t0).allowed);
    CHECK(slow.check(a, t0).allowed);
    auto s = slow.check(a, t0);
    CHECK_FALSE(s.allowed);
    CHECK(s.retry_after_s == 30);
}

TEST_CASE("rate limiter forgets refilled clients when it grows", "[ratelimit]") {
    RateLimiter rl(10, 32);
    ClientKey k{};
    for (int i = 0; i < 1000; ++i) {
        k[0] = static_cast<std::uint8_t>(i);
        k[1] = static_cast<std::uint8_t>(i >> 8);
        REQUIRE(rl.check(k, t0 + std::chrono::minutes(i)).allowed);
    }
}

TEST_CASE("routes: longest prefix wins whatever the order", "[routes]") {
    RouteTable t;
    t.add("/", "root", 0);
    t.add("/api/admin/", "admin", 2);
    t.add("/api/", "api", 1);
    CHECK(t.match("/api/admin/users")->pool == "admin");
    CHECK(t.match("/api/users")->pool == "api");
    CHECK(t.match("/apix")->pool == "root");
    RouteTable only;
    only.add("/auth/", "a", 0);
    CHECK(only.match("/payments/") == nullptr);
}

TEST_CASE("routes: a prefix ending in / also takes its bare path (POST /payments)", "[routes]") {
    RouteTable t;
    t.add("/payments/", "pay", 1);
    t.add("/auth/", "auth", 0);
    CHECK(t.match("/payments")->pool == "pay");
    CHECK(t.match("/payments?page=2")->pool == "pay");
    CHECK(t.match("/payments/12")->pool == "pay");
    CHECK(t.match("/paymentsX") == nullptr);
    CHECK(t.match("/payment") == nullptr);
    CHECK(t.match("/auth")->pool == "auth");
    // A root route does not steal the bare path from a longer slash route...
    t.add("/", "root", 2);
    CHECK(t.match("/payments")->pool == "pay");
    CHECK(t.match("/paymentsX")->pool == "root");
    // ...but a route written for the bare path (or longer) wins.
    t.add("/payments", "bare", 3);
    CHECK(t.match("/payments")->pool == "bare");
    CHECK(t.match("/payments/1")->pool == "pay");
    RouteTable shorter;
    shorter.add("/pay", "p", 0);
    shorter.add("/payments/", "pay", 1);
    CHECK(shorter.match("/payments")->pool == "pay");
    CHECK(shorter.match("/pay")->pool == "p");
}
