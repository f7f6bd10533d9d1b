// HA scenario 11p (README.md here): the Redis master of
// config/examples/payment-system.ini lost under the payment API's keep-alive
// load (load.hpp: a validation and a payment every 40 ms through the proxy's
// internal listener). The payment services reach Redis only through
// vigil-proxy's TCP listener `cache` (a role = primary pool of redis and
// redis-replica), and run degraded while no master answers: tokens are
// validated by Service A over AUTH_URL, idempotency by the database
// (docs/services.md, "Redis stops").
//
//   11p  redis's data directory deleted and the server kill -9ed
//        → vigild fences it and promotes redis-replica, the listener moves
//        to it, the services leave degraded mode (their log says `redis
//        connected`, /health says "redis":"connected", the new master
//        serves cache hits), 0 acknowledged payments lost, the old master
//        rejoins as a replica (a full resynchronisation).
//
// Measured: detection (kill → vigild's log line), promotion, each payment
// service's first Redis reply after the fault (the time stamp of its
// `redis connected` line), the first accepted payment, failed requests,
// and the acknowledged payments missing from the payments primary
// afterwards (asserted 0). Every wait is on an event with a deadline; the
// only sleep is the load's pacing. Needs root, PostgreSQL and Redis:
// SKIPPED otherwise.
#include <catch2/catch.hpp>

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <regex>
#include <string>

#include "harness.hpp"
#include "payment_scenario.hpp"
#include "stack.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;

namespace {

// A service log line's time stamp (spdlog, "%Y-%m-%dT%H:%M:%S.%eZ", UTC).
std::optional<Wall::time_point> stamp(const std::string& line) {
    std::smatch m;
    if (!std::regex_search(line, m, std::regex(R"(^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z)")))
        return std::nullopt;
    tm t{};
    t.tm_year = std::stoi(m[1]) - 1900;
    t.tm_mon = std::stoi(m[2]) - 1;
    t.tm_mday = std::stoi(m[3]);
    t.tm_hour = std::stoi(m[4]);
    t.tm_min = std::stoi(m[5]);
    t.tm_sec = std::stoi(m[6]);
    return Wall::from_time_t(::timegm(&t)) + Ms(std::stoi(m[7]));
}

// What a payment service logged about Redis from `t0` on: how often it
// went degraded, and when Redis answered it again (ms after t0, < 0: never).
struct RedisTransitions {
    int unavailable = 0, connected = 0;
    long back_ms = -1;
    std::string lines;
};

RedisTransitions transitions(const Stack& s, const std::string& program, Wall::time_point t0) {
    RedisTransitions r;
    for (const auto& l : lines_of(read_file(s.v->dir() / ("log/" + program + ".err.log")))) {
        const auto at = stamp(l);
        if (!at || *at < t0 - 1ms) continue;  // the log's stamps are to the millisecond
        if (l.find("redis unavailable") != std::string::npos) {
            ++r.unavailable;
            r.lines += program + ": " + l + "\n";
        } else if (l.find("redis connected") != std::string::npos) {
            ++r.connected;
            r.back_ms = std::chrono::duration_cast<Ms>(*at - t0).count();
            r.lines += program + ": " + l + "\n";
        }
    }
    return r;
}

long keyspace_hits(int port) {
    std::string out;
    if (run({"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port), "INFO", "stats"}, &out) != 0) return -1;
    std::smatch m;
    return std::regex_search(out, m, std::regex(R"(keyspace_hits:(\d+))")) ? std::stol(m[1]) : -1;
}

std::string get_health(int port) {
    KeepAliveClient c(port);
    return c.request("GET", "/health").body;
}

}  // namespace

TEST_CASE("scenario 11p: the payment stack's Redis master lost (data directory deleted, kill -9) under the payment "
          "load: redis-replica promoted, degraded mode ends, 0 lost, rejoin",
          "[ha][replication][redis]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    PaymentRun run("11p",
                   {{"redis-replica", "replica of redis, sync"}, {"redis", "primary, asynchronous, replica in sync"}});
    Stack& s = run.s;

    // The server stopped while its directory goes, so that it cannot act on
    // its lost files (an AOF write error) before it dies.
    const auto wall0 = Wall::now();
    const Kill k = kill9(s, "redis", s.v->dir() / "cache/redis");
    const std::size_t from = k.from;
    const auto t0 = k.t0;
    const long detected = k.detected_ms;
    const long decided = logged_after(s, "replication: failover to redis-replica", from, t0, 20s);
    const long promoted = logged_after(s, "replication: redis-replica is the primary now", from, t0, 20s);
    const long hits_at_promotion = keyspace_hits(s.redis_replica);

    // The old master back as the new one's replica, the pair in sync, all healthy.
    REQUIRE(s.wait_status("redis", "replica of redis-replica, sync", 60s));
    REQUIRE(s.wait_status("redis-replica", "primary, asynchronous, replica in sync", 30s));
    const long rejoined = ms(Clock::now() - t0);
    {
        INFO(s.v->log_text());
        REQUIRE(s.wait_all_healthy(60s));
    }
    const LoadFigures f = run.finish(t0);

    // Out of degraded mode: each service's /health (which pings Redis
    // through the listener) and its log; the new master served cache hits.
    std::string health;
    for (int port : {s.port.at(3002), s.port.at(3004)}) health += get_health(port) + "\n";
    const long hits_after = keyspace_hits(s.redis_replica);
    const auto b1 = transitions(s, "service-b-1", wall0);
    const auto b2 = transitions(s, "service-b-2", wall0);

    ScenarioTable("11p", "redis's data dir deleted + kill -9 (payment stack)")
        .row("detection (kill → vigild's log)", ms_or_na(detected))
        .row("kill → failover decided", ms_or_na(decided))
        .row("kill → redis-replica promoted", ms_or_na(promoted))
        .row("kill → Redis answers service-b-1 / service-b-2 again (end of degraded mode)",
             ms_or_na(b1.back_ms) + " / " + ms_or_na(b2.back_ms))
        .row("kill → first accepted payment", ms_or_na(f.first_write_ms))
        .row("slowest payment / longest gap between accepted payments",
             std::to_string(f.slowest_ms) + " ms / " + std::to_string(f.longest_gap_ms) + " ms")
        .row("kill → old master rejoined, pair in sync", ms_or_na(rejoined))
        .load_rows(f)
        .row("new master's cache hits at promotion → end",
             std::to_string(hits_at_promotion) + " → " + std::to_string(hits_after))
        .publish(f, "the payment services about Redis, from the kill on:\n" + b1.lines + b2.lines + "/health:\n" +
                        health);

    CHECK(f.lost == 0);
    CHECK(f.failed_payments == 0);  // degraded, never down: A validates the tokens meanwhile
    CHECK(health.find(R"("redis":"connected")") != std::string::npos);
    CHECK(health.find("disconnected") == std::string::npos);
    CHECK(health.find("degraded") == std::string::npos);
    CHECK(b1.back_ms >= promoted - 1);  // Redis answered again only from the new master on
    CHECK(b2.back_ms >= promoted - 1);
    CHECK(hits_after > hits_at_promotion);  // the token cache is read again, on the new master
}
