// The payment system's failover scenarios 1-7 (tests/ha/README.md,
// docs/services.md) played for real: each test runs its own copy of
// config/examples/payment-system.ini — PostgreSQL A and B, Redis, two
// auth-service and two payment-service instances, vigil-proxy — on free ports
// in a temp dir under the real vigild, drives a steady client load through
// the proxy, applies the fault and measures:
//
//   detection  fault -> vigild's log shows it
//   RTO        fault -> every program healthy again (vigilctl status) and the
//              client's requests succeeding again
//   failed     client requests that did not succeed (any time in the run)
//   lost       payments acknowledged (201, or 200 for a replayed key) that
//              are not in postgres-b afterwards: must be 0 in every scenario
//
// Every wait is on an event or a polled condition with a deadline; the only
// sleep is the load's pacing. Needs root (postgres and redis run as their own
// users), PostgreSQL and Redis: SKIPPED otherwise. Figures: tests/ha/README.md.
#include <catch2/catch.hpp>

#include <condition_variable>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "harness.hpp"
#include "load.hpp"
#include "stack.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// --------------------------------------------------------------- scenarios

struct Scenario {
    int number;
    std::string title;
    std::string seed_detection;  // the seed's figure, as text
    double seed_rto_low, seed_rto_high;  // seconds
    std::string detect_re;               // vigild's log line that shows the fault ("" = none)
};

struct Figures {
    double detection = -1;  // seconds; < 0: not applicable
    double rto = 0;
    std::size_t requests = 0, failed = 0, failed_validations = 0, failed_payments = 0;
    std::size_t acknowledged = 0, lost = 0;
    std::size_t connections = 0;  // the load's, all kept alive
    std::string failures;         // what the failed requests got, one a line
    // The connection-opening client's: attempts refused, requests failed
    // once connected, of how many.
    std::size_t opened = 0, refused = 0, open_failed = 0;
};

std::string fmt(double s) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(2) << s << " s";
    return o.str();
}

std::string range(double lo, double hi) {
    auto one = [](double s) {
        std::ostringstream o;
        if (s >= 60 && static_cast<int>(s) % 60 == 0) o << static_cast<int>(s / 60) << " min";
        else o << s << " s";
        return o.str();
    };
    return one(lo) + " – " + one(hi);
}

void report(const Scenario& sc, const Figures& f) {
    std::ostringstream t;
    t << "\n| scenario " << sc.number << ": " << sc.title << " | vigil | seed | target (seed / 10) |\n"
      << "| --- | --- | --- | --- |\n"
      << "| detection | " << (f.detection < 0 ? std::string("n/a") : fmt(f.detection)) << " | "
      << sc.seed_detection << " | |\n"
      << "| RTO | " << fmt(f.rto) << " | " << range(sc.seed_rto_low, sc.seed_rto_high) << " | ≤ "
      << sc.seed_rto_low / 10 << " s |\n"
      << "| failed requests | " << f.failed << " of " << f.requests << " (" << f.failed_validations
      << " validations, " << f.failed_payments << " payments) | | |\n"
      << "| payments acknowledged / lost | " << f.acknowledged << " / " << f.lost << " | | 0 lost |\n"
      << "| client connections (keep-alive) | " << f.connections << " for " << f.requests << " requests | | |\n"
      << "| new-connection client: refused / failed | " << f.refused << " / " << f.open_failed << " of "
      << f.opened << " | | |\n";
    std::cout << t.str() << (f.failures.empty() ? "" : "failed requests:\n" + f.failures) << std::flush;
    std::error_code ec;
    fs::create_directories(VIGIL_HA_RESULTS_DIR, ec);
    std::ofstream(std::string(VIGIL_HA_RESULTS_DIR) + "/scenario-" + std::to_string(sc.number) + ".md") << t.str();
}

// Brings a stack up, logs a user in, starts the load, applies `fault`, and
// measures. `restart` (scenario 6) is run after the fault and before the
// recovery is awaited.
Figures play(const Scenario& sc, const std::function<void(Stack&)>& fault) {
    Stack s;
    const auto up = s.wait_all_healthy(60s);
    INFO(s.v->log_text());
    REQUIRE(up);
    INFO("proxy's log:\n" << read_file(s.v->dir() / "log/proxy.err.log") << read_file(s.v->dir() / "log/proxy.out.log"));

    // The public HTTPS listener answers the seed's health JSON.
    std::string out;
    REQUIRE(run({"curl", "-sk", "--max-time", "5", "https://127.0.0.1:" + std::to_string(s.public_tls) +
                                                       "/auth/health"},
                &out) == 0);
    CHECK(out.find(R"("status":"ok")") != std::string::npos);
    CHECK(out.find(R"("service":"auth-service")") != std::string::npos);

    const std::string token = s.login("ha" + std::to_string(sc.number) + "_" + std::to_string(::getpid()));
    Load load(s.internal, token, "ha-" + std::to_string(sc.number) + "-");
    load.start();
    REQUIRE(load.wait_successes(20, Clock::now(), 20s));  // warmed up: the token is cached in Redis
    Opener opener(s.internal);
    opener.start();

    s.skip_log();
    Figures f;
    const auto t0 = Clock::now();
    fault(s);
    if (!sc.detect_re.empty()) {
        const auto line = s.v->expect(sc.detect_re, 30s);
        INFO(s.v->log_text());
        REQUIRE(line);
        f.detection = secs(Clock::now() - t0);
    }
    const auto healthy = s.wait_all_healthy(45s);
    {
        INFO(s.v->log_text());
        REQUIRE(healthy);
    }
    const bool serving = load.wait_successes(20, *healthy, 30s);
    load.stop();
    opener.stop();
    f.opened = opener.requests();
    f.refused = opener.refused();
    f.open_failed = opener.failed();
    {
        INFO(s.v->log_text());
        REQUIRE(serving);
    }
    f.connections = load.connections();
    f.failures = load.failures() + opener.failures();

    // RTO: all healthy, and the first success after the last failure.
    auto recovered = *healthy;
    const auto samples = load.samples();
    std::optional<Clock::time_point> last_fail;
    for (const auto& x : samples) {
        ++f.requests;
        if (!x.ok) {
            ++f.failed;
            (x.kind == 'v' ? f.failed_validations : f.failed_payments)++;
            if (x.t >= t0) last_fail = x.t;
        }
    }
    if (last_fail)
        for (const auto& x : samples)
            if (x.t > *last_fail && x.ok) {
                recovered = std::max(recovered, x.t);
                break;
            }
    f.rto = secs(recovered - t0);

    // Every acknowledged payment is in postgres-b, once.
    const auto acked = load.acknowledged();
    const auto stored = s.stored_payment_keys();
    f.acknowledged = acked.size();
    for (const auto& k : acked)
        if (!stored.count(k)) ++f.lost;
    report(sc, f);
    return f;
}

}  // namespace

TEST_CASE("scenario 1: one service-a instance killed, no request fails", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const Scenario sc{1, "single service instance failure (kill -9 service-a-1)", "30 – 90 s", 60, 120,
                      "service-a-1: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) { ::kill(s.pid_of("service-a-1"), SIGKILL); });
    CHECK(f.lost == 0);
    CHECK(f.failed == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 2: postgres-a stopped, services recover without a lost payment", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const Scenario sc{2, "database failure (SIGINT to postgres-a's postmaster)", "10 – 30 s", 30, 60,
                      "postgres-a: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) { ::kill(s.pid_of("postgres-a"), SIGINT); });
    CHECK(f.lost == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 3: redis killed, payments go on through the fallback", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const Scenario sc{3, "Redis failure (kill -9 redis)", "immediate", 10, 20, "redis: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) { ::kill(s.pid_of("redis"), SIGKILL); });
    CHECK(f.lost == 0);
    CHECK(f.failed_payments == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 4: the proxy killed and restarted", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const Scenario sc{4, "load balancer failure (kill -9 vigil-proxy)", "immediate", 10, 20, "proxy: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) { ::kill(s.pid_of("proxy"), SIGKILL); });
    CHECK(f.lost == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
    // vigild holds the listening sockets: clients wait in the backlog for
    // the new proxy; only what was in flight on the killed one may fail
    // (one request per client at most).
    CHECK(f.opened > 0);
    CHECK(f.refused == 0);
    CHECK(f.open_failed <= 1);
    CHECK(f.failed <= 1);
}

TEST_CASE("scenario 5: the whole service-a pool killed", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const Scenario sc{5, "complete pool failure (kill -9 service-a-1 and -2)", "30 – 90 s", 60, 120,
                      "service-a-[12]: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) {
        const pid_t a = s.pid_of("service-a-1"), b = s.pid_of("service-a-2");
        ::kill(a, SIGKILL);
        ::kill(b, SIGKILL);
    });
    CHECK(f.lost == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 6: host restart, vigild and every child SIGKILLed, then vigild again", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const Scenario sc{6, "host restart (SIGKILL vigild and all 9 programs, start vigild again)", "n/a", 120, 180,
                      ""};
    const auto f = play(sc, [](Stack& s) {
        // The whole tree at once, as a power cut would: vigild first so that
        // nothing is restarted, then everything it had started.
        const auto tree = process_tree(s.v->pid());
        for (pid_t p : tree) ::kill(p, SIGKILL);
        REQUIRE(s.v->wait_exit(10s) >= 0);
        for (pid_t p : tree) REQUIRE(wait_gone(p, 10s));
        s.v->start();  // "the machine is back": vigild on the same state and data dirs
        REQUIRE(s.v->expect("vigild [0-9.]+ starting", 10s));
    });
    CHECK(f.lost == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 7: vigild replaced in place under load (vigilctl reexec), every program keeps its pid",
          "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const Scenario sc{7, "vigild upgrade in place (vigilctl reexec)", "n/a", 10, 20, "re-executed in place"};
    const auto f = play(sc, [](Stack& s) {
        std::map<std::string, pid_t> before;
        for (const auto& n : kPrograms) before[n] = s.pid_of(n);
        std::string out;
        REQUIRE(s.v->ctl({"reexec"}, &out) == 0);
        // Nothing was restarted: the same processes, still supervised.
        for (const auto& n : kPrograms) {
            INFO(n);
            CHECK(s.pid_of(n) == before[n]);
        }
    });
    CHECK(f.lost == 0);
    CHECK(f.failed == 0);
    CHECK(f.refused == 0);
    CHECK(f.open_failed == 0);
}

TEST_CASE("scenario 7b: after vigilctl reexec a kill -9 of a service is respawned and still logs", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    Stack s;
    REQUIRE(s.wait_all_healthy(60s));
    REQUIRE(s.v->ctl({"reexec"}) == 0);
    REQUIRE(s.v->expect("re-executed in place", 10s));
    const std::string log = s.v->dir() / "log/service-a-1.err.log";
    const std::size_t lines = lines_of(read_file(log)).size();
    const pid_t old = s.pid_of("service-a-1");
    REQUIRE(::kill(old, SIGKILL) == 0);
    REQUIRE(s.v->expect("service-a-1: RUNNING -> BACKOFF: killed by SIGKILL", 10s));
    REQUIRE(s.wait_all_healthy(45s));
    CHECK(s.pid_of("service-a-1") != old);
    // The new process's start-up line reaches the same log file.
    CHECK(wait_for_lines(log, lines + 1, 10s));
}
