// Process-level behaviour: graceful stop with a request in flight, retry of
// any method when a server refuses connections, config errors at startup.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <csignal>
#include <fstream>
#include <set>

#include "harness.hpp"

using namespace proxytest;

TEST_CASE("SIGTERM: in-flight requests finish, then the proxy exits 0", "[lifecycle]") {
    Backend a = start_backend("a");
    auto p = start_proxy("[upstream:web]\nservers = " + a.address() +
                             "\n\n[proxy:public]\nlisten = 127.0.0.1:{PORT}\nroute = / web\n",
                         {"--access-log", "off", "--grace", "5s"});
    auto idle = Conn::tcp(p->port);  // an idle keep-alive client is closed after --drain-idle (1s)
    REQUIRE(idle);
    auto slow = Conn::tcp(p->port);
    REQUIRE(slow->send(get_request("/slow/800")));
    REQUIRE(a.proc.wait_line("REQUEST /slow/800"));
    p->proc->signal(SIGTERM);
    CHECK(idle->closed(3000ms));
    auto r = slow->read_response(false, 5000ms);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK_FALSE(r->keep_alive);  // stopping: Connection: close
    int st = p->proc->wait_exit(5000ms);
    REQUIRE(st != -1);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK_FALSE(Conn::tcp(p->port).has_value());
}

TEST_CASE("SIGTERM: an idle keep-alive connection may send one more request, answered with Connection: close",
          "[lifecycle]") {
    Backend a = start_backend("a");
    auto p = start_proxy("[upstream:web]\nservers = " + a.address() +
                             "\n\n[proxy:public]\nlisten = 127.0.0.1:{PORT}\nroute = / web\n",
                         {"--access-log", "off", "--grace", "5s", "--drain-idle", "3s"});
    auto c = Conn::tcp(p->port);
    REQUIRE(c->send(get_request("/first")));
    auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->keep_alive);
    p->proc->signal(SIGTERM);
    REQUIRE(p->proc->wait_line("stopping"));
    // The request a client sends on its kept-alive connection as the proxy
    // stops is answered, not reset: closing it at once would race it.
    REQUIRE(c->send(get_request("/second")));
    r = c->read_response(false, 5000ms);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK_FALSE(r->keep_alive);
    CHECK(c->closed(3000ms));
    const int st = p->proc->wait_exit(5000ms);
    REQUIRE(st != -1);
    CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("a refused connection is retried on another server for any method", "[lifecycle][failover]") {
    Backend a = start_backend("a");
    const int dead = free_port();
    auto p = start_proxy("[upstream:web]\nbalance = round_robin\nservers = 127.0.0.1:" + std::to_string(dead) + " " +
                             a.address() + "\nmax_fails = 100\n\n[proxy:public]\nlisten = 127.0.0.1:{PORT}\nroute = / web\n",
                         {"--access-log", "off"});
    auto c = Conn::tcp(p->port);
    for (int i = 0; i < 10; ++i) {
        REQUIRE(c->send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
        auto r = c->read_response();
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->header("x-body-bytes") == "5");
    }
    auto m = admin_call(p->admin, "GET", "/metrics");
    REQUIRE(m);
    CHECK(m->body.find("vigil_proxy_retries_total{pool=\"web\"} 0") == std::string::npos);
}

TEST_CASE("passive health ejects a failing server and vigild's 'up' brings it back", "[lifecycle][failover]") {
    Backend a = start_backend("a");
    const int dead = free_port();
    const std::string dead_addr = "127.0.0.1:" + std::to_string(dead);
    auto p = start_proxy("[upstream:web]\nbalance = round_robin\nservers = " + dead_addr + " " + a.address() +
                             "\nmax_fails = 2\nfail_timeout = 60s\n\n[proxy:public]\nlisten = 127.0.0.1:{PORT}\nroute = / web\n",
                         {"--access-log", "off"});
    for (int i = 0; i < 6; ++i) CHECK(http_get(p->port, "/x")->status == 200);
    auto r = admin_call(p->admin, "GET", "/v1/pools/web/servers/" + dead_addr);
    REQUIRE(r);
    CHECK(r->body.find("\"ejected\":true") != std::string::npos);
    CHECK(r->body.find("\"ejections_total\":1") != std::string::npos);
    // The server comes back: vigild says up, traffic returns at once.
    Child revived({PROXY_BACKEND_PATH, "--name", "revived", "--port", std::to_string(dead)});
    REQUIRE(revived.wait_line("PORT "));
    REQUIRE(admin_call(p->admin, "POST", "/v1/pools/web/servers/" + dead_addr + "/state", R"({"state":"up"})")->status == 200);
    std::set<std::string> seen;
    for (int i = 0; i < 4; ++i) seen.insert(http_get(p->port, "/x")->header("x-backend"));
    CHECK(seen.count("revived") == 1);
}

TEST_CASE("config errors are reported with file:line and exit 2", "[lifecycle]") {
    TempDir d;
    const std::string ini = d.path + "/bad.ini";
    std::ofstream(ini) << "[vigil]\nstate_dir = " << d.path
                       << "\n[program:proxy]\nkind = proxy\n[proxy:p]\nlisten = 127.0.0.1:1\nroute = / nowhere\n";
    Child c({VIGIL_PROXY_PATH, "-c", ini});
    auto line = c.wait_line("bad.ini:");
    CHECK(line);
    int st = c.wait_exit();
    CHECK(WEXITSTATUS(st) == 2);
}

TEST_CASE("the config check refuses a TLS key that is a FIFO, missing or mismatched, without hanging", "[lifecycle][tls]") {
    TempDir d;
    const std::string cert = d.path + "/cert.pem", key = d.path + "/key.pem", other = d.path + "/other";
    for (const std::string& prefix : {std::string(), other}) {
        Child gen({VIGIL_PROXY_PATH, "--gen-cert", prefix.empty() ? cert : prefix + "-cert.pem",
                   prefix.empty() ? key : prefix + "-key.pem"});
        REQUIRE(WEXITSTATUS(gen.wait_exit()) == 0);
    }
    const std::string fifo = d.path + "/fifo.pem";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    struct Case {
        std::string key, why;
    };
    for (const Case& k : {Case{fifo, "not a regular file"}, Case{d.path + "/missing.pem", "No such file"},
                          Case{other + "-key.pem", "mismatch"}}) {
        INFO(k.key);
        const std::string ini = d.path + "/tls.ini";
        std::ofstream(ini) << "[vigil]\nstate_dir = " << d.path << "\n[program:proxy]\nkind = proxy\n"
                           << "[upstream:u]\nservers = 127.0.0.1:1\n[proxy:p]\nlisten = 127.0.0.1:1\nroute = / u\n"
                           << "tls_cert = " << cert << "\ntls_key = " << k.key << "\n";
        Child c({VIGIL_PROXY_PATH, "-c", ini, "--check"});
        CHECK(c.wait_line(k.why));
        const int st = c.wait_exit(5000ms);  // a FIFO once blocked here for ever
        REQUIRE(st != -1);
        CHECK(WEXITSTATUS(st) == 2);
    }
}
