// supervisor/access: which routes and XML-RPC methods each access level may
// use. tests/integration/read_only_test.cpp checks the same through real
// peers (SO_PEERCRED) and basic auth.
#include "supervisor/access.hpp"

#include <catch2/catch.hpp>

using vigil::supervisor::Access;
using vigil::supervisor::refused_method;
using vigil::supervisor::refused_route;

TEST_CASE("access: a writer may use every route and method") {
    const Access w = Access::full();
    for (const char* path : {"/v1/programs/web/stop", "/v1/shutdown", "/v1/config/update", "/v1/reopen"})
        CHECK(refused_route(w, "POST", path).empty());
    CHECK(refused_route(w, "GET", "/v1/programs/web/log").empty());
    CHECK(refused_method(w, "supervisor.stopProcess").empty());
    CHECK(refused_method(w, "supervisor.shutdown").empty());
}

TEST_CASE("access: a reader reads status, health, upstreams, metrics and events, and acts on nothing") {
    const Access r = Access::read_only(false);
    for (const char* path : {"/v1/programs", "/v1/programs/web", "/v1/programs/web/health", "/v1/upstreams",
                             "/v1/events", "/v1/version", "/v1/access", "/metrics", "/"})
        CHECK(refused_route(r, "GET", path).empty());
    for (const char* path : {"/v1/programs/web/stop", "/v1/programs/all/start", "/v1/programs/web/signal",
                             "/v1/programs/web/rolling-restart", "/v1/shutdown", "/v1/reload", "/v1/config/update",
                             "/v1/config/reread", "/v1/reopen", "/v1/programs/web/wait"})
        CHECK_THAT(refused_route(r, "POST", path), Catch::Contains("read-only"));
    CHECK(refused_route(r, "DELETE", "/v1/programs/web").size() > 0);
    // XML-RPC is let through the route check and decided per method.
    CHECK(refused_route(r, "POST", "/RPC2").empty());
    for (const char* m : {"supervisor.getState", "supervisor.getAllProcessInfo", "supervisor.getProcessInfo",
                          "supervisor.getPID", "supervisor.getAPIVersion", "system.listMethods", "system.multicall"})
        CHECK(refused_method(r, m).empty());
    for (const char* m : {"supervisor.stopProcess", "supervisor.startAllProcesses", "supervisor.shutdown",
                          "supervisor.reloadConfig", "supervisor.signalProcess", "supervisor.sendProcessStdin",
                          "supervisor.clearProcessLogs", "supervisor.addProcessGroup", "supervisor.getAllConfigInfo",
                          "no.such.method"})
        CHECK_FALSE(refused_method(r, m).empty());
}

TEST_CASE("access: program output needs log_group on top of read-only access") {
    const Access blind = Access::read_only(false), sees = Access::read_only(true);
    for (const char* path : {"/v1/programs/web/log", "/logtail/web", "/logtail/web/stderr"}) {
        CHECK_THAT(refused_route(blind, "GET", path), Catch::Contains("log_group"));
        CHECK(refused_route(sees, "GET", path).empty());
    }
    for (const char* m : {"supervisor.readProcessStdoutLog", "supervisor.tailProcessStderrLog", "supervisor.readLog"}) {
        CHECK_FALSE(refused_method(blind, m).empty());
        CHECK(refused_method(sees, m).empty());
    }
    CHECK_FALSE(refused_method(sees, "supervisor.clearProcessLogs").empty());  // reading is not clearing
}

TEST_CASE("access: no access refuses everything") {
    const Access n = Access::denied();
    CHECK_FALSE(refused_route(n, "GET", "/v1/programs").empty());
    CHECK_FALSE(refused_method(n, "supervisor.getState").empty());
    CHECK(n.name() == "none");
    CHECK(Access::read_only(true).name() == "read");
    CHECK(Access::full().name() == "write");
}

TEST_CASE("without credentials, [inet_http_server] answers a Host that is an address or localhost", "[access]") {
    using vigil::supervisor::host_safe_without_auth;
    for (const char* ok : {"", "127.0.0.1", "127.0.0.1:9001", "localhost", "LocalHost:9001", "localhost.", "[::1]",
                           "[::1]:9001", "10.1.2.3:80"})
        CHECK(host_safe_without_auth(ok));
    // Names a page can point at 127.0.0.1; spellings that are names to a
    // browser; malformed ports and brackets.
    for (const char* bad : {"evil.example", "evil.example:9001", "localhost.evil.example", "127.0.0.1.nip.io",
                            "127.1", "0x7f000001", "127.0.0.1:", "127.0.0.1:90a", "[::1", "[::1]x", "[evil]:1",
                            "localhost:9001:1"})
        CHECK_FALSE(host_safe_without_auth(bad));
}
