// Planned proxy restarts and vigild's shutdown, under the HA load
// (tests/ha/README.md): the payment stack under the real vigild, the
// kept-alive payment client and the connection-opening client through the
// proxy's internal listener. A restart and an update are handovers
// (docs/proxy.md): no request may fail and no connection be refused. On
// shutdown the proxy drains before any pool member is stopped, and nothing
// warns about pushes to a proxy that is gone.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <iostream>
#include <regex>
#include <sstream>

#include "harness.hpp"
#include "load.hpp"
#include "stack.hpp"

using namespace vigil::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kRetired = R"(proxy \(retiring pid [0-9]+\): STOPPING -> STOPPED)";

// The stack up and healthy, and both clients sending.
struct Loaded {
    Stack s;
    std::unique_ptr<Load> load;
    std::unique_ptr<Opener> opener;

    explicit Loaded(const std::string& tag) {
        const auto up = s.wait_all_healthy(60s);
        INFO(s.v->log_text());
        REQUIRE(up);
        load = std::make_unique<Load>(s.internal, s.login(tag + "_" + std::to_string(::getpid())), tag + "-");
        load->start();
        REQUIRE(load->wait_successes(20, Clock::now(), 20s));
        opener = std::make_unique<Opener>(s.internal);
        opener->start();
        s.skip_log();
    }

    // Stops both clients once 20 requests in a row succeeded after `after`;
    // returns the keep-alive client's failed requests.
    std::size_t finish(Clock::time_point after) {
        const bool serving = load->wait_successes(20, after, 30s);
        load->stop();
        opener->stop();
        CHECK(serving);
        std::size_t failed = 0;
        for (const auto& x : load->samples()) failed += x.ok ? 0 : 1;
        return failed;
    }

    std::string failures() const { return load->failures() + opener->failures(); }
};

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

bool logged(const Vigild& v, const std::string& re) { return v.find_line(re).has_value(); }

}  // namespace

TEST_CASE("scenario 4b: vigilctl restart proxy under load fails no request and refuses no connection", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    Loaded l("hr");
    const pid_t first = l.s.pid_of("proxy");
    std::vector<double> restart_ms;
    for (int i = 0; i < 3; ++i) {
        const auto t0 = Clock::now();
        std::string out;
        REQUIRE(l.s.v->ctl({"restart", "proxy"}, &out, 30s) == 0);
        restart_ms.push_back(ms_since(t0));  // vigilctl returns once the new proxy is RUNNING and serving
        const auto gone = l.s.v->expect(kRetired, 15s);
        INFO(l.s.v->log_text());
        REQUIRE(gone);
    }
    const auto after = Clock::now();
    const std::size_t failed = l.finish(after);
    INFO(l.s.v->log_text());
    INFO("failed requests:\n" << l.failures());
    std::ostringstream t;
    t << "\n| vigilctl restart proxy ×3 under load | figure |\n| --- | --- |\n"
      << "| restart command → new proxy serving | " << restart_ms[0] << ", " << restart_ms[1] << ", "
      << restart_ms[2] << " ms |\n"
      << "| keep-alive client: failed / requests | " << failed << " / " << l.load->samples().size() << " |\n"
      << "| new-connection client: refused / failed / requests | " << l.opener->refused() << " / "
      << l.opener->failed() << " / " << l.opener->requests() << " |\n";
    std::cout << t.str() << std::flush;
    CHECK(l.s.pid_of("proxy") != first);
    CHECK(failed == 0);
    CHECK(l.opener->requests() > 0);
    CHECK(l.opener->refused() == 0);
    CHECK(l.opener->failed() == 0);
    CHECK_FALSE(logged(*l.s.v, "proxy admin"));
    CHECK_FALSE(logged(*l.s.v, "SIGKILL"));  // every old proxy drained and exited by itself
}

TEST_CASE("scenario 4c: an update that adds a route hands over to a new proxy, no request fails", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    Loaded l("hu");
    KeepAliveClient probe(l.s.internal);
    CHECK(probe.request("GET", "/health").status == 404);  // no route yet
    const pid_t first = l.s.pid_of("proxy");

    std::string ini = read_file(l.s.v->config_path());
    const std::string section = "[proxy:internal]\n";
    const auto at = ini.find(section);
    REQUIRE(at != std::string::npos);
    ini.insert(at + section.size(), "route = /health service_a\n");
    write_file(l.s.v->config_path(), ini);
    std::string out;
    REQUIRE(l.s.v->ctl({"update"}, &out, 30s) == 0);
    INFO(out);
    const auto gone = l.s.v->expect(kRetired, 15s);
    {
        INFO(l.s.v->log_text());
        REQUIRE(gone);
    }
    CHECK(l.s.pid_of("proxy") != first);
    KeepAliveClient after_update(l.s.internal);
    const Reply r = after_update.request("GET", "/health");
    CHECK(r.status == 200);
    CHECK(r.body.find(R"("service":"auth-service")") != std::string::npos);

    const std::size_t failed = l.finish(Clock::now());
    INFO(l.s.v->log_text());
    INFO("failed requests:\n" << l.failures());
    std::cout << "\n| update adding a route under load | keep-alive failed " << failed << " of "
              << l.load->samples().size() << " | new-connection refused " << l.opener->refused() << ", failed "
              << l.opener->failed() << " of " << l.opener->requests() << " |\n"
              << std::flush;
    CHECK(failed == 0);
    CHECK(l.opener->refused() == 0);
    CHECK(l.opener->failed() == 0);
    CHECK_FALSE(logged(*l.s.v, "proxy admin"));
}

TEST_CASE("scenario 4d: vigild's shutdown under load drains the proxy before its servers stop", "[ha]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    Loaded l("hs");
    const std::size_t from = l.s.v->line_count();
    REQUIRE(l.s.v->terminate(60s) == 0);
    l.load->stop();
    l.opener->stop();
    INFO(l.s.v->log_text());
    const auto proxy_down = l.s.v->find_line(R"( proxy: STOPPING -> STOPPED)", from);
    REQUIRE(proxy_down);
    for (const char* member : {"service-a-1", "service-a-2", "service-b-1", "service-b-2"}) {
        const auto stopping = l.s.v->find_line(std::string(member) + ": RUNNING -> STOPPING", from);
        REQUIRE(stopping);
        CHECK(*stopping > *proxy_down);
    }
    CHECK_FALSE(logged(*l.s.v, "proxy admin"));
    CHECK_FALSE(logged(*l.s.v, R"(proxy: .*SIGKILL)"));
}
