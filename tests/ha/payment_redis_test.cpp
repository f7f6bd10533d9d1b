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
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "harness.hpp"
#include "load.hpp"
#include "stack.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;

namespace {

long ms(Clock::duration d) { return static_cast<long>(std::chrono::duration_cast<Ms>(d).count()); }

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
    Stack s;
    {
        const auto up = s.wait_all_healthy(90s);
        INFO(s.v->log_text());
        REQUIRE(up);
    }
    REQUIRE(s.wait_status("redis-replica", "replica of redis, sync", 30s));
    REQUIRE(s.wait_status("redis", "primary, asynchronous, replica in sync", 30s));

    const std::string token = s.login("ha11p_" + std::to_string(::getpid()));
    Load load(s.internal, token, "ha-11p-");
    load.start();
    REQUIRE(load.wait_successes(20, Clock::now(), 20s));
    s.skip_log();

    // The server stopped while its directory goes, so that it cannot act on
    // its lost files (an AOF write error) before it dies.
    const pid_t pid = s.pid_of("redis");
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGSTOP) == 0);
    fs::remove_all(s.v->dir() / "cache/redis");
    const std::size_t from = s.v->line_count();
    const auto wall0 = Wall::now();
    const auto t0 = Clock::now();
    REQUIRE(::kill(pid, SIGKILL) == 0);

    const long detected = logged_after(s, "redis: RUNNING -> ", from, t0, 10s);
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
    REQUIRE(load.wait_successes(20, Clock::now(), 30s));
    load.stop();

    // Out of degraded mode: each service's /health (which pings Redis
    // through the listener) and its log; the new master served cache hits.
    std::string health;
    for (int port : {s.port.at(3002), s.port.at(3004)}) health += get_health(port) + "\n";
    const long hits_after = keyspace_hits(s.redis_replica);
    const auto b1 = transitions(s, "service-b-1", wall0);
    const auto b2 = transitions(s, "service-b-2", wall0);

    // Figures.
    std::size_t requests = 0, failed_v = 0, failed_p = 0;
    long first_payment = -1, longest_gap = 0, slowest = 0;
    std::optional<Clock::time_point> last_ack;
    for (const auto& x : load.samples()) {
        ++requests;
        if (!x.ok) ++(x.kind == 'v' ? failed_v : failed_p);
        if (x.kind != 'p') continue;
        if (x.end > t0) slowest = std::max(slowest, ms(x.end - x.t));
        if (!x.ok) continue;
        if (last_ack && x.end > t0) longest_gap = std::max(longest_gap, ms(x.end - *last_ack));
        last_ack = x.end;
        if (first_payment < 0 && x.t >= t0) first_payment = ms(x.end - t0);
    }
    const auto acked = load.acknowledged();
    const auto stored = s.stored_payment_keys();
    std::size_t lost = 0;
    for (const auto& k : acked) lost += stored.count(k) == 0;

    auto val = [](long v) { return v < 0 ? std::string("n/a") : std::to_string(v) + " ms"; };
    std::ostringstream t;
    t << "\n| scenario 11p: redis's data dir deleted + kill -9 (payment stack) | vigil |\n| --- | --- |\n"
      << "| detection (kill → vigild's log) | " << val(detected) << " |\n"
      << "| kill → failover decided | " << val(decided) << " |\n"
      << "| kill → redis-replica promoted | " << val(promoted) << " |\n"
      << "| kill → Redis answers service-b-1 / service-b-2 again (end of degraded mode) | " << val(b1.back_ms)
      << " / " << val(b2.back_ms) << " |\n"
      << "| kill → first accepted payment | " << val(first_payment) << " |\n"
      << "| slowest payment / longest gap between accepted payments | " << slowest << " ms / " << longest_gap
      << " ms |\n"
      << "| kill → old master rejoined, pair in sync | " << val(rejoined) << " |\n"
      << "| failed requests | " << failed_v + failed_p << " of " << requests << " (" << failed_v
      << " validations, " << failed_p << " payments) |\n"
      << "| payments acknowledged / lost | " << acked.size() << " / " << lost << " |\n"
      << "| new master's cache hits at promotion → end | " << hits_at_promotion << " → " << hits_after << " |\n";
    std::cout << t.str() << (load.failures().empty() ? "" : "failed requests:\n" + load.failures())
              << "the payment services about Redis, from the kill on:\n"
              << b1.lines << b2.lines << "/health:\n"
              << health << std::flush;
    std::error_code ec;
    fs::create_directories(VIGIL_HA_RESULTS_DIR, ec);
    std::ofstream(std::string(VIGIL_HA_RESULTS_DIR) + "/scenario-11p.md") << t.str();

    CHECK(lost == 0);
    CHECK(failed_p == 0);  // degraded, never down: A validates the tokens meanwhile
    CHECK(health.find(R"("redis":"connected")") != std::string::npos);
    CHECK(health.find("disconnected") == std::string::npos);
    CHECK(health.find("degraded") == std::string::npos);
    CHECK(b1.back_ms >= promoted - 1);  // Redis answered again only from the new master on
    CHECK(b2.back_ms >= promoted - 1);
    CHECK(hits_after > hits_at_promotion);  // the token cache is read again, on the new master
}
