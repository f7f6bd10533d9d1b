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
#include <functional>
#include <regex>
#include <string>

#include "harness.hpp"
#include "payment_scenario.hpp"
#include "stack.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The figures only this scenario's fault knows; the load's are measured for all.
struct Figures {
    long detection_ms = -1;  // fault → vigild's log line; < 0: none (planned)
    long event_ms = -1;      // fault → the scenario's event (promotion, asynchronous …)
    std::string event;
    long restored_ms = -1;   // fault → the pair whole and synchronous again
    std::string timeline;    // vigild's lines about the pair from the fault on
    LoadFigures load;
};

// The stack up, the pair synchronous and the load warm; then `fault` (which
// returns the fault's moment and fills the figures it alone knows), the
// load stopped once `fault` is done, and the payments checked on the
// primary through the TCP listener.
Figures play(const std::string& number, const std::string& title,
             const std::function<Clock::time_point(Stack&, Figures&)>& fault) {
    PaymentRun run(number,
                   {{"postgres-b-replica", "replica of postgres-b, sync"}, {"postgres-b", "primary, synchronous"}});
    Stack& s = run.s;
    Figures f;
    const std::size_t from = s.v->line_count();
    const auto t0 = fault(s, f);
    const auto lines = s.v->log();
    for (std::size_t i = from; i < lines.size(); ++i)
        if (lines[i].find("postgres-b") != std::string::npos || lines[i].find("payments_db") != std::string::npos)
            f.timeline += lines[i] + "\n";
    // The replica's own account of the end of recovery: where a slow
    // promotion spent its time.
    for (const auto& l : lines_of(read_file(s.v->dir() / "log/postgres-b-replica.err.log")))
        if (std::regex_search(l, std::regex("promote|timeline|recovery|ready to accept|WAL stream|primary server")))
            f.timeline += "postgres-b-replica: " + l + "\n";
    f.load = run.finish(t0);

    ScenarioTable(number, title)
        .row("detection (fault → vigild's log)", ms_or_na(f.detection_ms))
        .row("fault → " + f.event, ms_or_na(f.event_ms))
        .row("fault → first accepted payment (through the TCP listener)", ms_or_na(f.load.first_write_ms))
        .row("write unavailability (first failed or stalled payment → first accepted after)",
             std::to_string(f.load.unavailable_ms) + " ms")
        .row("longest gap between accepted payments", std::to_string(f.load.longest_gap_ms) + " ms")
        .row("fault → pair whole and synchronous again", ms_or_na(f.restored_ms))
        .load_rows(f.load)
        .publish(f.load, "vigild, from the fault on:\n" + f.timeline);
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
    const auto f = play("8p", "postgres-b's data dir deleted + kill -9", [](Stack& s, Figures& f) {
        // The postmaster stopped while its directory goes: otherwise a
        // backend that finds its files gone may take the server down first.
        const Kill k = kill9(s, "postgres-b", s.v->dir() / "db/postgres-b");
        f.detection_ms = k.detected_ms;
        f.event = "postgres-b-replica promoted";
        f.event_ms = logged_after(s, "replication: postgres-b-replica is the primary now", k.from, k.t0, 20s);
        rejoined(s, f, k.t0);  // by a fresh base backup
        return k.t0;
    });
    CHECK(f.load.lost == 0);
    CHECK(f.load.first_write_ms >= 0);
    CHECK(f.load.first_write_ms <= 3000);
}

TEST_CASE("scenario 9p: vigilctl switchover of the payments database under the payment load: 0 lost, write pause "
          "at most 1 s",
          "[ha][replication]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const auto f = play("9p", "vigilctl switchover postgres-b-replica", [](Stack& s, Figures& f) {
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
    CHECK(f.load.lost == 0);
    CHECK(f.load.unavailable_ms <= 1000);
    CHECK(f.load.longest_gap_ms <= 1000);
}

TEST_CASE("scenario 10p: the payments replica killed under the payment load: asynchronous at once, synchronous "
          "again once it is back",
          "[ha][replication]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const auto f = play("10p", "kill -9 postgres-b-replica", [](Stack& s, Figures& f) {
        const Kill k = kill9(s, "postgres-b-replica");
        const std::size_t from = k.from;
        const auto t0 = k.t0;
        f.detection_ms = k.detected_ms;
        f.event = "postgres-b asynchronous";
        f.event_ms = logged_after(
            s, "replication: set_async postgres-b: asynchronous replication: postgres-b-replica", from, t0, 10s);
        f.restored_ms =
            logged_after(s, "replication: synchronous replication to postgres-b-replica", from, t0, 60s);
        REQUIRE(s.wait_status("postgres-b", "primary, synchronous", 10s));
        REQUIRE(s.wait_all_healthy(60s));
        return t0;
    });
    CHECK(f.load.lost == 0);
    CHECK(f.load.unavailable_ms <= 1000);
    CHECK(f.load.longest_gap_ms <= 1000);
}
