// Balancing and passive health on a manual clock.
#include <catch2/catch.hpp>

#include <map>

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

TEST_CASE("max_fails within fail_timeout ejects for fail_timeout", "[pool][health]") {
    Pool p = make_pool(2, vigil::config::Balance::round_robin, 3);
    CHECK_FALSE(record_failure(p, 0, t0));
    CHECK_FALSE(record_failure(p, 0, t0 + 1s));
    CHECK(record_failure(p, 0, t0 + 2s));
    CHECK(p.servers[0].stats->ejected(t0 + 2s));
    for (int i = 0; i < 10; ++i) CHECK(pick_server(p, t0 + 3s, {}) == 1);
    CHECK(p.servers[0].stats->ejected(t0 + 31s));
    CHECK_FALSE(p.servers[0].stats->ejected(t0 + 32s + 1ms));
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
