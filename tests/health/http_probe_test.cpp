#include <catch2/catch.hpp>

#include "tests/health/http_server.hpp"
#include "tests/health/support.hpp"

using namespace vigil::health;
using namespace vigil::health::test;
using vigil::config::HealthKind;
using Mode = TestHttpServer::Mode;
using Tls = TestHttpServer::Tls;

namespace {

struct HttpFixture {
    boost::asio::io_context io;
    TestHttpServer server{io};

    ProbeResult probe(vigil::config::HealthCheck hc) {
        auto p = make_probe(io, hc);
        return run_probe(io, *p);
    }
    vigil::config::HealthCheck check(std::string path = "/health", milliseconds timeout = 2000ms) {
        auto hc = make_check(HealthKind::http, "127.0.0.1", server.port(), timeout);
        hc.path = std::move(path);
        return hc;
    }
};

}  // namespace

TEST_CASE_METHOD(HttpFixture, "http probe: 200 is healthy and the request is a plain GET", "[http]") {
    server.respond(200, "ok");
    const auto r = probe(check("/health?x=1"));
    CHECK(r.ok);
    CHECK(r.detail == "HTTP 200 OK");
    CHECK(r.latency > 0us);
    CHECK(server.last_request().rfind("GET /health?x=1 HTTP/1.1\r\n", 0) == 0);
    CHECK(server.last_request().find("Host: 127.0.0.1:" + std::to_string(server.port())) != std::string::npos);
}

TEST_CASE_METHOD(HttpFixture, "http probe: statuses below 400 pass, 400 and above fail, like curl -f", "[http]") {
    for (int status : {200, 204, 301}) {
        server.respond(status, "");
        CHECK(probe(check()).ok);
    }
    server.respond(404, "no");
    CHECK_FALSE(probe(check()).ok);
    server.respond(500, "database down");
    const auto r = probe(check());
    CHECK_FALSE(r.ok);
    CHECK(r.detail == "HTTP 500 Internal Server Error: database down");
}

TEST_CASE_METHOD(HttpFixture, "http probe: expect_status and expect_body", "[http]") {
    auto hc = check();
    hc.expect_status = 204;
    server.respond(200, "ok");
    CHECK_FALSE(probe(hc).ok);
    server.respond(204, "");
    CHECK(probe(hc).ok);

    hc = check();
    hc.expect_body = "\"status\":\"up\"";
    server.respond(200, R"({"status":"down"})");
    const auto r = probe(hc);
    CHECK_FALSE(r.ok);
    CHECK(r.detail.find("body lacks") != std::string::npos);
    server.respond(200, R"({"status":"up"})");
    CHECK(probe(hc).ok);
}

TEST_CASE_METHOD(HttpFixture, "http probe: a hung server is a timeout, not a stuck probe", "[http]") {
    server.set_mode(Mode::hang);
    const auto started = std::chrono::steady_clock::now();
    const auto r = probe(check("/", 300ms));
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK_FALSE(r.ok);
    CHECK(r.detail == "timed out after 300ms (waiting for the response)");
    CHECK(took >= 300ms);
    CHECK(took < 2s);
    CHECK(server.requests() == 1);
    // The same probe works again once the server does.
    server.respond(200);
    CHECK(probe(check()).ok);
}

TEST_CASE_METHOD(HttpFixture, "http probe: a huge body is unhealthy and costs bounded memory", "[http]") {
    server.set_mode(Mode::huge);
    auto p = make_probe(io, check("/", 5000ms));
    const long before = peak_rss_kib();
    for (int i = 0; i < 5; ++i) {
        const auto r = run_probe(io, *p);
        CHECK_FALSE(r.ok);
        CHECK(r.detail == "response body larger than 64 KiB");
    }
    // Let the server notice the closed connections.
    run_until(io, [] { return false; }, 100ms);
    const long grown = peak_rss_kib() - before;
    INFO("peak RSS grew by " << grown << " KiB while the server offered 5 x 64 MiB");
    CHECK(grown < 16 * 1024);
    CHECK(server.body_bytes_sent() < 5ull * 64 * 1024 * 1024);
}

TEST_CASE_METHOD(HttpFixture, "http probe: garbage is unhealthy", "[http]") {
    server.set_mode(Mode::garbage);
    const auto r = probe(check());
    CHECK_FALSE(r.ok);
    CHECK(r.detail.rfind("not an HTTP response", 0) == 0);
}

TEST_CASE_METHOD(HttpFixture, "http probe: a connection closed without an answer is unhealthy", "[http]") {
    server.set_mode(Mode::close);
    const auto r = probe(check());
    CHECK_FALSE(r.ok);
    CHECK(r.detail == "connection closed before a response");
}

TEST_CASE("http probe: nothing listening is unhealthy at once", "[http]") {
    boost::asio::io_context io;
    auto p = make_probe(io, make_check(HealthKind::http, "127.0.0.1", free_port()));
    const auto r = run_probe(io, *p);
    CHECK_FALSE(r.ok);
    CHECK(r.detail.find("Connection refused") != std::string::npos);
    CHECK(r.latency < 1s);
}

TEST_CASE_METHOD(HttpFixture, "http probe: a host name is resolved, all its addresses tried", "[http]") {
    auto hc = check();
    hc.host = "localhost";  // may resolve to ::1 first; the server is on 127.0.0.1 only
    server.respond(200);
    const auto r = probe(hc);
    CHECK(r.ok);
    CHECK(server.last_request().find("Host: localhost:") != std::string::npos);
}

TEST_CASE("https probe: a self-signed server passes over TLS", "[https]") {
    boost::asio::io_context io;
    TestHttpServer server(io, Tls::modern);
    server.respond(200, "secure");
    auto hc = make_check(HealthKind::https, "localhost", server.port());
    hc.expect_body = "secure";
    auto p = make_probe(io, hc);
    const auto r = run_probe(io, *p);
    CHECK(r.ok);
    CHECK(r.detail == "HTTP 200 OK");
    server.respond(503, "");
    CHECK_FALSE(run_probe(io, *p).ok);
}

TEST_CASE("https probe: a server offering only TLS 1.0/1.1 fails", "[https]") {
    boost::asio::io_context io;
    TestHttpServer server(io, Tls::legacy_only);
    auto p = make_probe(io, make_check(HealthKind::https, "127.0.0.1", server.port()));
    const auto r = run_probe(io, *p);
    CHECK_FALSE(r.ok);
    CHECK(r.detail.rfind("TLS handshake: ", 0) == 0);
    CHECK(server.requests() == 0);
}

TEST_CASE("https probe: plain HTTP spoken to a TLS server fails", "[https]") {
    boost::asio::io_context io;
    TestHttpServer tls_server(io, Tls::modern);
    auto p = make_probe(io, make_check(HealthKind::http, "127.0.0.1", tls_server.port(), 1000ms));
    const auto r = run_probe(io, *p);
    CHECK_FALSE(r.ok);
    CHECK(tls_server.requests() == 0);
}

TEST_CASE("https probe: TLS spoken to a plain server that waits is a timeout", "[https]") {
    boost::asio::io_context io;
    TestHttpServer plain_server(io);  // waits for the end of a request that never comes
    plain_server.set_mode(Mode::hang);
    auto p = make_probe(io, make_check(HealthKind::https, "127.0.0.1", plain_server.port(), 300ms));
    const auto r = run_probe(io, *p);
    CHECK_FALSE(r.ok);
    CHECK(r.detail == "timed out after 300ms (TLS handshake)");
}

TEST_CASE_METHOD(HttpFixture, "http probe: cancel() abandons a run without calling back", "[http]") {
    server.set_mode(Mode::hang);
    auto p = make_probe(io, check("/", 200ms));
    bool called = false;
    p->run([&](ProbeResult) { called = true; });
    REQUIRE(run_until(io, [&] { return server.requests() == 1; }, 5s));
    p->cancel();
    run_until(io, [] { return false; }, 400ms);  // past the timeout: still no callback
    CHECK_FALSE(called);
    server.respond(200);
    CHECK(run_probe(io, *p).ok);
}

TEST_CASE_METHOD(HttpFixture, "http probe: many probes at once do not block each other", "[http]") {
    TestHttpServer hung(io);
    hung.set_mode(Mode::hang);
    server.respond(200);
    std::vector<std::shared_ptr<Probe>> probes;
    std::vector<std::optional<ProbeResult>> results(40);
    for (int i = 0; i < 40; ++i) {
        auto hc = make_check(HealthKind::http, "127.0.0.1", i % 2 ? hung.port() : server.port(), 1500ms);
        probes.push_back(make_probe(io, hc));
        probes.back()->run([&results, i](ProbeResult r) { results[i] = std::move(r); });
    }
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(run_until(io, [&] {
        for (int i = 0; i < 40; i += 2)
            if (!results[i]) return false;
        return true;
    }, 5s));
    CHECK(std::chrono::steady_clock::now() - started < 1000ms);  // the healthy ones did not wait for the hung
    for (int i = 0; i < 40; i += 2) CHECK(results[i]->ok);
    REQUIRE(run_until(io, [&] {
        for (auto& r : results)
            if (!r) return false;
        return true;
    }, 5s));
    for (int i = 1; i < 40; i += 2) CHECK_FALSE(results[i]->ok);
}
