// mode = tcp listeners: bytes relayed both ways to raw echo servers
// (test_backend --echo, real processes), half-close, the next server on a
// refused connect, `down` cutting relays and `draining` keeping them, the
// wait for a usable server, and metrics and access-log lines.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <csignal>
#include <random>

#include "harness.hpp"

using namespace proxytest;

namespace {

std::string tcp_proxy(const std::string& servers, const std::string& upstream_extra = "",
                      const std::string& listener_extra = "") {
    return "[upstream:db]\nservers = " + servers + "\n" + upstream_extra +
           "\n[proxy:db]\nmode = tcp\nlisten = 127.0.0.1:{PORT}\nroute = db\n" + listener_extra;
}

// Sends `out` while reading what comes back, until `expect` bytes came or
// the deadline passed: neither side blocks the other (the echo answers
// while we are still sending).
std::string exchange(int fd, const std::string& out, std::size_t expect, ms timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string in;
    std::size_t sent = 0;
    char buf[65536];
    while (in.size() < expect && std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, static_cast<short>(POLLIN | (sent < out.size() ? POLLOUT : 0)), 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        if (p.revents & POLLOUT) {
            const ssize_t n = ::send(fd, out.data() + sent, std::min<std::size_t>(out.size() - sent, 65536),
                                     MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) sent += static_cast<std::size_t>(n);
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0) break;
            if (n > 0) in.append(buf, static_cast<std::size_t>(n));
        }
    }
    return in;
}

std::string metrics(const Proxy& p) {
    auto m = admin_call(p.admin, "GET", "/metrics");
    return m ? m->body : "";
}

}  // namespace

TEST_CASE("tcp: bytes both ways, a large payload each way, and half-close", "[tcp]") {
    Backend a = start_echo("a");
    auto p = start_proxy(tcp_proxy(a.address()));
    auto c = Conn::tcp(p->port);
    REQUIRE(c);
    CHECK(c->read_until("\n") == "HELLO a\n");  // the server speaks first, as PostgreSQL's and Redis' replies do

    std::string payload(8 << 20, '\0');
    std::mt19937 rng(7);
    for (auto& ch : payload) ch = static_cast<char>(rng());
    const std::string back = exchange(c->fd(), payload, payload.size(), 20000ms);
    REQUIRE(back.size() == payload.size());
    CHECK(back == payload);

    // Our EOF reaches the server as an EOF (not a close), and its answer
    // to it — its own EOF — comes back through.
    REQUIRE(c->send("last words"));
    c->shutdown_write();
    REQUIRE(a.proc.wait_line("EOF 1"));
    auto rest = c->read_to_eof();
    REQUIRE(rest);
    CHECK(*rest == "last words");

    auto line = p->proc->wait_line("\"TCP\"", 3000ms);  // flushed by the worker's tick
    REQUIRE(line);
    CHECK(line->find(" db 127.0.0.1 \"TCP\" - ") != std::string::npos);
    CHECK(line->find("pool=db upstream=" + a.address() + " tries=1 end=closed") != std::string::npos);
    CHECK(line->find("sent=" + std::to_string(payload.size() + 10)) != std::string::npos);
    const std::string m = metrics(*p);
    CHECK(m.find("vigil_proxy_tcp_connections_total{pool=\"db\",server=\"" + a.address() + "\"} 1") != std::string::npos);
    CHECK(m.find("vigil_proxy_tcp_bytes_total{pool=\"db\",server=\"" + a.address() + "\",direction=\"sent\"} " +
                 std::to_string(payload.size() + 10)) != std::string::npos);
    CHECK(m.find("vigil_proxy_listener_bytes_total{listener=\"db\",direction=\"out\"} " +
                 std::to_string(payload.size() + 18)) != std::string::npos);
    CHECK(m.find("vigil_proxy_tcp_connection_seconds_count{pool=\"db\",server=\"" + a.address() + "\"} 1") !=
          std::string::npos);
}

TEST_CASE("tcp: a refused connect goes to the next server", "[tcp][failover]") {
    Backend a = start_echo("a");
    const std::string dead = "127.0.0.1:" + std::to_string(free_port());
    auto p = start_proxy(tcp_proxy(dead + " " + a.address(), "balance = round_robin\nmax_fails = 100\n"));
    for (int i = 0; i < 6; ++i) {
        auto c = Conn::tcp(p->port);
        REQUIRE(c);
        CHECK(c->read_until("\n") == "HELLO a\n");
    }
    const std::string m = metrics(*p);
    CHECK(m.find("vigil_proxy_retries_total{pool=\"db\"} 0") == std::string::npos);  // some went to `dead` first
    CHECK(m.find("vigil_proxy_tcp_connections_total{pool=\"db\",server=\"" + a.address() + "\"} 6") != std::string::npos);
}

TEST_CASE("tcp: least_conn spreads open connections over the servers", "[tcp]") {
    Backend a = start_echo("a"), b = start_echo("b");
    auto p = start_proxy(tcp_proxy(a.address() + " " + b.address()));
    std::vector<Conn> open;
    int to_a = 0;
    for (int i = 0; i < 6; ++i) {
        auto c = Conn::tcp(p->port);
        REQUIRE(c);
        auto hello = c->read_until("\n");
        REQUIRE(hello);
        to_a += *hello == "HELLO a\n";
        open.push_back(std::move(*c));
    }
    CHECK(to_a == 3);  // each new connection goes to the server with fewer open
}

TEST_CASE("tcp: `down` closes the server's relayed connections at once, `draining` lets them go on",
          "[tcp][failover]") {
    Backend a = start_echo("a"), b = start_echo("b");
    auto p = start_proxy(tcp_proxy(a.address() + " " + b.address()));
    auto to = [&](Conn& c) { return c.read_until("\n").value_or(""); };
    auto c1 = Conn::tcp(p->port), c2 = Conn::tcp(p->port);
    REQUIRE(c1);
    REQUIRE(c2);
    std::string h1 = to(*c1), h2 = to(*c2);
    REQUIRE(h1 != h2);  // one on each server (least_conn)
    Conn& on_a = h1 == "HELLO a\n" ? *c1 : *c2;
    Conn& on_b = h1 == "HELLO a\n" ? *c2 : *c1;

    REQUIRE(admin_call(p->admin, "POST", "/v1/pools/db/servers/" + a.address() + "/state", R"({"state":"draining"})")->status == 200);
    REQUIRE(on_a.send("still here\n"));
    CHECK(on_a.read_until("\n") == "still here\n");
    auto fresh = Conn::tcp(p->port);  // a new connection avoids the draining server
    CHECK(fresh->read_until("\n") == "HELLO b\n");

    REQUIRE(admin_call(p->admin, "POST", "/v1/pools/db/servers/" + a.address() + "/state", R"({"state":"down"})")->status == 200);
    CHECK(on_a.closed(2000ms));
    REQUIRE(a.proc.wait_line("CLOSED"));  // the server's side is closed too: no writes reach a demoted primary
    REQUIRE(on_b.send("b lives\n"));
    CHECK(on_b.read_until("\n") == "b lives\n");
    auto line = p->proc->wait_line("end=server_down", 3000ms);
    CHECK(line);
    CHECK(metrics(*p).find("vigil_proxy_tcp_cut_total{pool=\"db\",server=\"" + a.address() + "\"} 1") != std::string::npos);
}

TEST_CASE("tcp: a connection that finds no usable server waits for one, then is served", "[tcp][failover]") {
    Backend a = start_echo("a");
    auto p = start_proxy(tcp_proxy(a.address(), "", "connect_timeout = 10s\n"));
    REQUIRE(admin_call(p->admin, "POST", "/v1/pools/db/servers/" + a.address() + "/state", R"({"state":"down"})")->status == 200);
    auto c = Conn::tcp(p->port);
    REQUIRE(c);
    REQUIRE(c->send("queued\n"));  // sent while no server is usable: kept, not lost
    CHECK(c->read_for(300ms).empty());
    REQUIRE(admin_call(p->admin, "POST", "/v1/pools/db/servers/" + a.address() + "/state", R"({"state":"up"})")->status == 200);
    CHECK(c->read_until("\n", 3000ms) == "HELLO a\n");
    CHECK(c->read_until("\n") == "queued\n");
}

TEST_CASE("tcp: with no usable server within connect_timeout the connection is closed and counted", "[tcp]") {
    Backend a = start_echo("a");
    auto p = start_proxy(tcp_proxy(a.address(), "", "connect_timeout = 400ms\n"));
    REQUIRE(admin_call(p->admin, "POST", "/v1/pools/db/servers/" + a.address() + "/state", R"({"state":"down"})")->status == 200);
    auto c = Conn::tcp(p->port);
    REQUIRE(c);
    CHECK(c->closed(3000ms));
    CHECK(p->proc->wait_line("end=no_server", 3000ms));
    CHECK(metrics(*p).find("vigil_proxy_tcp_unserved_total{pool=\"db\"} 1") != std::string::npos);
}

TEST_CASE("tcp: SIGTERM leaves open relays flowing for the grace period", "[tcp][lifecycle]") {
    Backend a = start_echo("a");
    auto p = start_proxy(tcp_proxy(a.address()), {"--grace", "5s"});
    auto c = Conn::tcp(p->port);
    REQUIRE(c->read_until("\n") == "HELLO a\n");
    p->proc->signal(SIGTERM);
    REQUIRE(p->proc->wait_line("stopping"));
    CHECK_FALSE(Conn::tcp(p->port).has_value());  // no new connections
    REQUIRE(c->send("after stop\n"));
    CHECK(c->read_until("\n") == "after stop\n");
    c->shutdown_write();  // the relay ends, and with it the proxy
    CHECK(c->read_to_eof());
    const int st = p->proc->wait_exit(5000ms);
    REQUIRE(st != -1);
    CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("tcp: an idle relay is closed after idle_timeout", "[tcp]") {
    Backend a = start_echo("a");
    auto p = start_proxy(tcp_proxy(a.address(), "", "idle_timeout = 500ms\n"));
    auto c = Conn::tcp(p->port);
    REQUIRE(c->read_until("\n") == "HELLO a\n");
    CHECK(c->closed(3000ms));
    CHECK(p->proc->wait_line("end=idle_timeout", 3000ms));
}
