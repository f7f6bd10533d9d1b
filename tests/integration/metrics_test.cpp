// vigild's /metrics, with vigil-proxy's series folded in, checked by
// Prometheus' own linter: `promtool check metrics` (every family with
// # HELP and # TYPE, names and units as Prometheus expects them). SKIPPED
// where promtool is not installed (Debian: prometheus, installed by
// scripts/setup.sh).
#include <catch2/catch.hpp>

#include <unistd.h>

#include "harness.hpp"

using namespace vigil::test;

TEST_CASE("metrics: vigild's /metrics with vigil-proxy's series pass promtool check metrics", "[control][promtool]") {
    if (::access("/usr/bin/promtool", X_OK) != 0)
        skip("/usr/bin/promtool is not installed (Debian package prometheus, scripts/setup.sh)");
    const int port = free_port(), listen = free_port();
    const std::string p = std::to_string(port);
    Vigild v("[program:b1]\ncommand = " + std::string(VIGIL_PROXY_BACKEND_PATH) + " --port " + p +
             " --name b1\naddress = 127.0.0.1:" + p + "\nstartsecs = 0\nhealthcheck = tcp://127.0.0.1:" + p +
             "\nhealth_interval = 100ms\n\n[upstream:pool]\nservers = b1\n\n[proxy:main]\nlisten = 127.0.0.1:" +
             std::to_string(listen) + "\nroute = / pool\n\n[program:proxy]\nkind = proxy\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("b1: up in pool pool", 20s));
    const std::string res = raw_exchange(v.socket_path(), "GET /metrics HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n");
    REQUIRE(res.rfind("HTTP/1.1 200", 0) == 0);
    const std::string body = res.substr(res.find("\r\n\r\n") + 4);
    // Every family of both programs is there: vigild's and the proxy's.
    for (const char* family : {"vigil_program_up", "vigil_health_probe_duration_seconds", "vigil_proxy_requests_total",
                               "vigil_proxy_connections_active", "vigil_proxy_tls_handshake_failures_total"})
        CHECK(body.find(std::string("# HELP ") + family + " ") != std::string::npos);
    const std::string file = v.dir() / "metrics.txt";
    write_file(file, body);
    std::string out;
    const int rc = run({"sh", "-c", "promtool check metrics < " + file}, &out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("no help text") == std::string::npos);
}
