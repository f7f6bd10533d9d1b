#include <catch2/catch.hpp>

#include "supervisor/health/health_monitor.hpp"
#include "tests/health/http_server.hpp"
#include "tests/health/support.hpp"

using namespace vigil::health;
using namespace vigil::health::test;
using vigil::config::HealthKind;
using Status = vigil::core::HealthStatus;
using Mode = TestHttpServer::Mode;

namespace {

struct Change {
    Status from, to;
    std::string detail;
    std::chrono::steady_clock::time_point at;
};

struct MonitorFixture {
    boost::asio::io_context io;
    TestHttpServer server{io};
    std::vector<Change> changes;

    vigil::config::HealthCheck check(milliseconds interval, int retries, int rise) {
        auto hc = make_check(HealthKind::http, "127.0.0.1", server.port(), 500ms);
        hc.interval = interval;
        hc.start_interval = interval;
        hc.retries = retries;
        hc.rise = rise;
        return hc;
    }
    std::shared_ptr<HealthMonitor> monitor(const vigil::config::HealthCheck& hc, std::size_t history = 10) {
        HealthMonitor::Options opts;
        opts.seed = 1;
        opts.history = history;
        return HealthMonitor::create(
            io, "web", hc,
            [this](Status from, Status to, const ProbeResult& r) {
                changes.push_back({from, to, r.detail, std::chrono::steady_clock::now()});
            },
            opts);
    }
    bool wait_changes(std::size_t n, milliseconds limit = 10s) {
        return run_until(io, [&] { return changes.size() >= n; }, limit);
    }
};

}  // namespace

TEST_CASE_METHOD(MonitorFixture, "monitor: healthy, unhealthy after retries, healthy again after rise", "[monitor]") {
    auto m = monitor(check(20ms, 3, 2));
    CHECK(m->status() == Status::starting);
    m->start();
    REQUIRE(wait_changes(1));
    CHECK(changes[0].from == Status::starting);
    CHECK(changes[0].to == Status::healthy);
    CHECK(changes[0].detail == "HTTP 200 OK");

    server.respond(500, "down");
    const std::size_t before = server.requests();
    REQUIRE(wait_changes(2));
    CHECK(changes[1].from == Status::healthy);
    CHECK(changes[1].to == Status::unhealthy);
    CHECK(server.requests() - before == 3);  // exactly `retries` failed checks
    CHECK(m->status() == Status::unhealthy);

    server.respond(200);
    const std::size_t failing = server.requests();
    REQUIRE(wait_changes(3));
    CHECK(changes[2].to == Status::healthy);
    CHECK(server.requests() - failing == 2);  // exactly `rise` passing checks
    CHECK(m->checks_failed() == 3);
}

TEST_CASE_METHOD(MonitorFixture, "monitor: failures inside the start period do not count", "[monitor]") {
    server.respond(503, "warming up");
    auto hc = check(20ms, 1, 1);
    hc.start_period = 400ms;
    auto m = monitor(hc);
    const auto started = std::chrono::steady_clock::now();
    m->start();
    REQUIRE(wait_changes(1));
    CHECK(changes[0].to == Status::unhealthy);
    CHECK(changes[0].at - started >= 400ms);
    CHECK(server.requests() > 5);  // checked all along, at start_interval
}

TEST_CASE_METHOD(MonitorFixture, "monitor: a hung endpoint makes it unhealthy through the timeout", "[monitor]") {
    auto hc = check(20ms, 2, 1);
    hc.timeout = 100ms;
    auto m = monitor(hc);
    m->start();
    REQUIRE(wait_changes(1));
    server.set_mode(Mode::hang);
    REQUIRE(wait_changes(2, 5s));
    CHECK(changes[1].to == Status::unhealthy);
    CHECK(changes[1].detail == "timed out after 100ms (waiting for the response)");
}

TEST_CASE_METHOD(MonitorFixture, "monitor: history keeps the last N results, oldest first", "[monitor]") {
    auto m = monitor(check(10ms, 3, 1), 3);
    std::vector<HealthRecord> seen;
    m->set_on_result([&](const HealthRecord& r) { seen.push_back(r); });
    m->start();
    REQUIRE(run_until(io, [&] { return seen.size() >= 5; }, 10s));
    REQUIRE(m->history().size() == 3);
    CHECK(m->history().front().at <= m->history().back().at);
    CHECK(m->history().back().detail == seen.back().detail);
    CHECK(m->history().back().ok);
    CHECK(m->history().back().latency > 0us);
    CHECK(m->checks_passed() >= 5);
}

TEST_CASE_METHOD(MonitorFixture, "monitor: stop() ends the checks and silences a pending one", "[monitor]") {
    server.set_mode(Mode::hang);
    auto hc = check(10ms, 1, 1);
    hc.timeout = 200ms;
    auto m = monitor(hc);
    int results = 0;
    m->set_on_result([&](const HealthRecord&) { ++results; });
    m->start();
    REQUIRE(run_until(io, [&] { return server.requests() == 1; }, 5s));
    m->stop();
    CHECK_FALSE(m->running());
    run_until(io, [] { return false; }, 400ms);  // twice the timeout: nothing may arrive
    CHECK(results == 0);
    CHECK(changes.empty());
    CHECK(server.requests() == 1);

    // start() again begins from `starting`.
    server.respond(200);
    m->start();
    REQUIRE(wait_changes(1));
    CHECK(changes[0].from == Status::starting);
}

TEST_CASE_METHOD(MonitorFixture, "monitor: dropping it with a check in flight is harmless", "[monitor]") {
    server.set_mode(Mode::hang);
    auto hc = check(10ms, 1, 1);
    hc.timeout = 100ms;
    auto m = monitor(hc);
    m->start();
    REQUIRE(run_until(io, [&] { return server.requests() == 1; }, 5s));
    std::weak_ptr<HealthMonitor> weak = m;
    m.reset();
    CHECK(weak.expired());
    run_until(io, [] { return false; }, 300ms);
    CHECK(changes.empty());
    CHECK(server.requests() == 1);
}

TEST_CASE_METHOD(MonitorFixture, "monitor: on_change may restart the monitor (liveness restart)", "[monitor]") {
    server.respond(500);
    auto hc = check(10ms, 1, 1);
    std::shared_ptr<HealthMonitor> m;
    int restarts = 0;
    m = HealthMonitor::create(io, "svc", hc, [&](Status, Status to, const ProbeResult&) {
        if (to == Status::unhealthy && restarts < 3) {
            ++restarts;
            m->start();  // what vigild does when on_unhealthy = restart respawns the process
        }
    });
    m->start();
    REQUIRE(run_until(io, [&] { return restarts == 3; }, 10s));
    server.respond(200);
    REQUIRE(run_until(io, [&] { return m->status() == Status::healthy; }, 10s));
    m->stop();
}

TEST_CASE_METHOD(MonitorFixture, "monitor: a startup check holds the health checks off until it passes", "[monitor]") {
    TempDir dir;
    const std::string flag = dir.file("ready");
    auto hc = check(20ms, 1, 1);
    hc.startup.push_back(exec_check("test -f " + flag));
    auto m = monitor(hc);
    std::vector<HealthRecord> seen;
    m->set_on_result([&](const HealthRecord& r) { seen.push_back(r); });
    m->start();
    REQUIRE(run_until(io, [&] { return seen.size() >= 4; }, 10s));
    for (const auto& r : seen) {
        CHECK(r.startup);
        CHECK_FALSE(r.ok);
    }
    CHECK(server.requests() == 0);
    CHECK(m->status() == Status::starting);  // startup failures never count
    CHECK(changes.empty());

    write_file(flag, "");
    REQUIRE(wait_changes(1));
    CHECK(changes[0].to == Status::healthy);
    CHECK(server.requests() >= 1);
    CHECK(m->tracker().gate_open());
}

TEST_CASE("monitor: no healthcheck, no monitor", "[monitor]") {
    boost::asio::io_context io;
    vigil::config::HealthCheck none;
    CHECK(HealthMonitor::create(io, "x", none, nullptr) == nullptr);
    CHECK(make_probe(io, none) == nullptr);
}
