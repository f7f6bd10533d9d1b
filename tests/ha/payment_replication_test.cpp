// HA scenarios 8p, 9p and 10p (README.md here): the replicated payments
// database of config/examples/payment-system.ini (postgres-b and
// postgres-b-replica, docs/replication.md) failed over, switched over and
// degraded under the payment API's keep-alive load (load.hpp: a validation
// and a payment every 40 ms through the proxy's internal listener). The
// payment services reach the database only through vigil-proxy's TCP
// listener (payments-db, a role = primary pool), so every payment accepted
// after a failover went through it to the new primary.
//
//   8p   postgres-b's data directory deleted and its postmaster kill -9ed
//        → postgres-b-replica promoted, payments go on, the old primary
//        rejoins as a replica (a fresh base backup);
//   9p   `vigilctl switchover postgres-b-replica` → the old primary
//        rejoins with pg_rewind;
//   10p  the replica kill -9ed → the primary drops to asynchronous, the
//        replica returns, catches up, synchronous again.
//
// Measured: detection (fault → vigild's log line), the first accepted
// payment after the fault, write unavailability (the first payment that
// failed or stalled → the first accepted one after the last failure),
// the longest gap between two accepted payments, failed requests, and the
// acknowledged payments missing from the primary afterwards (asserted 0).
// Every wait is on an event with a deadline; the only sleep is the load's
// pacing. Needs root, PostgreSQL and Redis: SKIPPED otherwise.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <regex>
#include <sstream>

#include "harness.hpp"
#include "load.hpp"
#include "stack.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A payment slower than this counts as stalled by the fault (one takes a
// few milliseconds on loopback, a synchronous commit included).
constexpr Ms kStalled{150};

long ms(Clock::duration d) { return static_cast<long>(std::chrono::duration_cast<Ms>(d).count()); }

struct Figures {
    std::string scenario, fault;
    long detection_ms = -1;       // fault → vigild's log line; < 0: none (planned)
    long event_ms = -1;           // fault → the scenario's event (promotion, asynchronous …)
    std::string event;
    long first_write_ms = -1;     // fault → the first accepted payment sent after it
    long unavailable_ms = 0;      // first failed or stalled payment → the first accepted one after
    long longest_gap_ms = 0;      // between two accepted payments, around the fault
    long restored_ms = -1;        // fault → the pair whole and synchronous again
    std::size_t requests = 0, failed_validations = 0, failed_payments = 0, acknowledged = 0, lost = 0;
    std::string failures;
    std::string timeline;  // vigild's lines about the pair from the fault on
};

// Fills the load's part of `f`: everything after `t0` (the fault).
void measure(Figures& f, const Load& load, Clock::time_point t0) {
    std::vector<Sample> pay;
    for (const auto& x : load.samples()) {
        ++f.requests;
        if (!x.ok) ++(x.kind == 'v' ? f.failed_validations : f.failed_payments);
        if (x.kind == 'p') pay.push_back(x);
    }
    std::optional<Clock::time_point> last_ack;
    std::optional<std::size_t> hit;  // the first payment the fault touched
    for (std::size_t i = 0; i < pay.size(); ++i) {
        const auto& x = pay[i];
        if (x.ok) {
            if (last_ack && x.end > t0) f.longest_gap_ms = std::max(f.longest_gap_ms, ms(x.end - *last_ack));
            last_ack = x.end;
            if (f.first_write_ms < 0 && x.t >= t0) f.first_write_ms = ms(x.end - t0);
        }
        if (!hit && x.end > t0 && (!x.ok || x.end - x.t > kStalled)) hit = i;
    }
    if (hit) {
        std::size_t last_failed = *hit;
        for (std::size_t i = *hit; i < pay.size(); ++i)
            if (!pay[i].ok) last_failed = i;
        for (std::size_t i = last_failed; i < pay.size(); ++i)
            if (pay[i].ok) {
                f.unavailable_ms = ms(pay[i].end - pay[*hit].t);
                break;
            }
    }
    f.failures = load.failures();
}

void report(const Figures& f) {
    auto val = [](long v) { return v < 0 ? std::string("n/a") : std::to_string(v) + " ms"; };
    std::ostringstream t;
    t << "\n| scenario " << f.scenario << ": " << f.fault << " | vigil |\n| --- | --- |\n"
      << "| detection (fault → vigild's log) | " << val(f.detection_ms) << " |\n"
      << "| fault → " << f.event << " | " << val(f.event_ms) << " |\n"
      << "| fault → first accepted payment (through the TCP listener) | " << val(f.first_write_ms) << " |\n"
      << "| write unavailability (first failed or stalled payment → first accepted after) | " << f.unavailable_ms
      << " ms |\n"
      << "| longest gap between accepted payments | " << f.longest_gap_ms << " ms |\n"
      << "| fault → pair whole and synchronous again | " << val(f.restored_ms) << " |\n"
      << "| failed requests | " << f.failed_validations + f.failed_payments << " of " << f.requests << " ("
      << f.failed_validations << " validations, " << f.failed_payments << " payments) |\n"
      << "| payments acknowledged / lost | " << f.acknowledged << " / " << f.lost << " |\n";
    std::cout << t.str() << (f.failures.empty() ? "" : "failed requests:\n" + f.failures)
              << "vigild, from the fault on:\n" << f.timeline << std::flush;
    std::error_code ec;
    fs::create_directories(VIGIL_HA_RESULTS_DIR, ec);
    std::ofstream(std::string(VIGIL_HA_RESULTS_DIR) + "/scenario-" + f.scenario + ".md") << t.str();
}

// The stack up, the pair synchronous, a user logged in and the load warm;
// then `fault` (which returns the fault's moment and fills the figures it
// alone knows), the load stopped once `fault` is done, and the payments
// checked on the primary through the TCP listener.
Figures play(const std::string& number, const std::string& title,
             const std::function<Clock::time_point(Stack&, Load&, Figures&)>& fault) {
    Stack s;
    const auto up = s.wait_all_healthy(90s);
    INFO(s.v->log_text());
    REQUIRE(up);
    REQUIRE(s.wait_status("postgres-b-replica", "replica of postgres-b, sync", 30s));
    REQUIRE(s.wait_status("postgres-b", "primary, synchronous", 30s));

    const std::string token = s.login("ha" + number + "_" + std::to_string(::getpid()));
    Load load(s.internal, token, "ha-" + number + "-");
    load.start();
    REQUIRE(load.wait_successes(20, Clock::now(), 20s));

    s.skip_log();
    Figures f;
    f.scenario = number;
    f.fault = title;
    const std::size_t from = s.v->line_count();
    const auto t0 = fault(s, load, f);
    const auto lines = s.v->log();
    for (std::size_t i = from; i < lines.size(); ++i)
        if (lines[i].find("postgres-b") != std::string::npos || lines[i].find("payments_db") != std::string::npos)
            f.timeline += lines[i] + "\n";
    // The replica's own account of the end of recovery: where a slow
    // promotion spent its time.
    for (const auto& l : lines_of(read_file(s.v->dir() / "log/postgres-b-replica.err.log")))
        if (std::regex_search(l, std::regex("promote|timeline|recovery|ready to accept|WAL stream|primary server")))
            f.timeline += "postgres-b-replica: " + l + "\n";
    // Served after it all: the same client, still on its connection.
    REQUIRE(load.wait_successes(20, Clock::now(), 30s));
    load.stop();
    measure(f, load, t0);

    const auto acked = load.acknowledged();
    const auto stored = s.stored_payment_keys();
    f.acknowledged = acked.size();
    for (const auto& k : acked) f.lost += stored.count(k) == 0;
    report(f);
    return f;
}

// The server behind the TCP listener, as it answers through it.
std::string listener_server_port(const Stack& s) {
    std::string out;
    run({"psql", "-X", "-A", "-t", "-q", "-h", "127.0.0.1", "-p", std::to_string(s.payments_db), "-U",
         "payment_user", "-d", "payments_db", "-c", "SELECT inet_server_port()"},
        &out);
    return out.substr(0, out.find_first_of("\r\n"));
}

// postgres-b-replica is the primary, postgres-b its replica again, the pair
// synchronous and every program healthy; the TCP listener reaches the new
// primary.
void rejoined(Stack& s, Figures& f, Clock::time_point t0) {
    REQUIRE(s.wait_status("postgres-b", "replica of postgres-b-replica", 60s));
    REQUIRE(s.wait_status("postgres-b-replica", "primary, synchronous", 60s));
    f.restored_ms = ms(Clock::now() - t0);
    INFO(s.v->log_text());
    REQUIRE(s.wait_all_healthy(60s));
    CHECK(listener_server_port(s) == std::to_string(s.pg_b_replica));
}

}  // namespace

TEST_CASE("scenario 8p: the payments primary's data directory deleted and its server killed, under the payment "
          "load: failover through the TCP listener, 0 lost, rejoin",
          "[ha][replication]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const auto f = play("8p", "postgres-b's data dir deleted + kill -9", [](Stack& s, Load&, Figures& f) {
        // The postmaster stopped while its directory goes: otherwise a
        // backend that finds its files gone may take the server down first.
        const pid_t pid = s.pid_of("postgres-b");
        REQUIRE(pid > 0);
        REQUIRE(::kill(pid, SIGSTOP) == 0);
        fs::remove_all(s.v->dir() / "db/postgres-b");
        const std::size_t from = s.v->line_count();
        const auto t0 = Clock::now();
        REQUIRE(::kill(pid, SIGKILL) == 0);
        f.detection_ms = logged_after(s, "postgres-b: RUNNING -> ", from, t0, 10s);
        f.event = "postgres-b-replica promoted";
        f.event_ms = logged_after(s, "replication: postgres-b-replica is the primary now", from, t0, 20s);
        rejoined(s, f, t0);  // by a fresh base backup
        return t0;
    });
    CHECK(f.lost == 0);
    CHECK(f.first_write_ms >= 0);
    CHECK(f.first_write_ms <= 3000);
}

TEST_CASE("scenario 9p: vigilctl switchover of the payments database under the payment load: 0 lost, write pause "
          "at most 1 s",
          "[ha][replication]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const auto f = play("9p", "vigilctl switchover postgres-b-replica", [](Stack& s, Load&, Figures& f) {
        const auto t0 = Clock::now();
        std::string out;
        const int rc = s.v->ctl({"switchover", "postgres-b-replica"}, &out, 30s);
        INFO(out << s.v->log_text());
        REQUIRE(rc == 0);
        f.event = "vigilctl switchover returned";
        f.event_ms = ms(Clock::now() - t0);
        rejoined(s, f, t0);  // rewound with pg_rewind
        return t0;
    });
    CHECK(f.lost == 0);
    CHECK(f.unavailable_ms <= 1000);
    CHECK(f.longest_gap_ms <= 1000);
}

TEST_CASE("scenario 10p: the payments replica killed under the payment load: asynchronous at once, synchronous "
          "again once it is back",
          "[ha][replication]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const auto f = play("10p", "kill -9 postgres-b-replica", [](Stack& s, Load&, Figures& f) {
        const pid_t pid = s.pid_of("postgres-b-replica");
        REQUIRE(pid > 0);
        const std::size_t from = s.v->line_count();
        const auto t0 = Clock::now();
        REQUIRE(::kill(pid, SIGKILL) == 0);
        f.detection_ms = logged_after(s, "postgres-b-replica: RUNNING -> ", from, t0, 10s);
        f.event = "postgres-b asynchronous";
        f.event_ms = logged_after(
            s, "replication: set_async postgres-b: asynchronous replication: postgres-b-replica", from, t0, 10s);
        f.restored_ms =
            logged_after(s, "replication: synchronous replication to postgres-b-replica", from, t0, 60s);
        REQUIRE(s.wait_status("postgres-b", "primary, synchronous", 10s));
        REQUIRE(s.wait_all_healthy(60s));
        return t0;
    });
    CHECK(f.lost == 0);
    CHECK(f.unavailable_ms <= 1000);
    CHECK(f.longest_gap_ms <= 1000);
}
