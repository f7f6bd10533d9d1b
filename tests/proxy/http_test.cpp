// The real vigil-proxy over real sockets on 127.0.0.1, in front of
// test_backend processes: balancing, routes, keep-alive, headers, limits,
// smuggling, rate limiting, streaming bodies.
#include <catch2/catch.hpp>

#include <set>
#include <map>

#include "harness.hpp"

using namespace proxytest;

namespace {

std::string pools(const Backend& a, const Backend& b, const Backend& api, const std::string& extra_proxy = "") {
    return "[upstream:web]\nbalance = round_robin\nservers = " + a.address() + " " + b.address() +
           "\nmax_fails = 3\nfail_timeout = 30s\n\n"
           "[upstream:api]\nservers = " + api.address() + "\n\n"
           "[proxy:public]\nlisten = 127.0.0.1:{PORT}\nroute = / web\nroute = /api/ api\n" + extra_proxy;
}

struct Fixture {
    Backend a = start_backend("a");
    Backend b = start_backend("b");
    Backend api = start_backend("api");
};

}  // namespace

TEST_CASE("round_robin spreads requests over both servers", "[http]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api), {"--access-log", "off"});
    std::map<std::string, int> seen;
    for (int i = 0; i < 20; ++i) {
        auto r = http_get(p->port, "/x");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        ++seen[r->header("x-backend")];
    }
    CHECK(seen["a"] == 10);
    CHECK(seen["b"] == 10);
}

TEST_CASE("the longest matching prefix picks the pool", "[http]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api), {"--access-log", "off"});
    auto r = http_get(p->port, "/api/users");
    REQUIRE(r);
    CHECK(r->header("x-backend") == "api");
    CHECK(r->body == "api /api/users\n");
    r = http_get(p->port, "/apix");
    REQUIRE(r);
    CHECK(r->header("x-backend") != "api");
}

TEST_CASE("route /api/ also takes the bare /api: a POST keeps its body, no redirect", "[http]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api), {"--access-log", "off"});
    auto c = Conn::tcp(p->port);
    REQUIRE(c);
    REQUIRE(c->send("POST /api HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
    auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("x-backend") == "api");
    CHECK(r->header("x-body-bytes") == "5");
    r = http_get(p->port, "/api?page=2");
    REQUIRE(r);
    CHECK(r->header("x-backend") == "api");
    CHECK(r->body == "api /api?page=2\n");
    r = http_get(p->port, "/apis");
    REQUIRE(r);
    CHECK(r->header("x-backend") != "api");
}

TEST_CASE("keep-alive on both sides reuses connections", "[http]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api), {"--access-log", "off"});
    auto c = Conn::tcp(p->port);
    REQUIRE(c);
    std::set<std::string> upstream_conns;
    for (int i = 0; i < 30; ++i) {
        REQUIRE(c->send(get_request("/k")));
        auto r = c->read_response();
        REQUIRE(r);
        REQUIRE(r->status == 200);
        CHECK(r->keep_alive);
        upstream_conns.insert(r->header("x-backend") + "#" + r->header("x-conn"));
    }
    // One client connection lives on one worker: one pooled connection per server.
    CHECK(upstream_conns.size() == 2);
}

TEST_CASE("pipelined requests are answered in order", "[http]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api), {"--access-log", "off"});
    auto c = Conn::tcp(p->port);
    REQUIRE(c);
    REQUIRE(c->send(get_request("/api/1") + get_request("/api/2") + get_request("/api/3")));
    for (int i = 1; i <= 3; ++i) {
        auto r = c->read_response();
        REQUIRE(r);
        CHECK(r->body == "api /api/" + std::to_string(i) + "\n");
    }
}

TEST_CASE("forwarding headers are set and hop-by-hop headers dropped", "[http]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api), {"--access-log", "off"});
    auto c = Conn::tcp(p->port);
    REQUIRE(c);
    REQUIRE(c->send("GET /echo HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: X-Secret\r\n"
                    "X-Secret: s3cr3t\r\nX-Request-Id: my-id-1\r\n\r\n"));
    auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->body.find("X-Forwarded-For: 10.1.2.3, 127.0.0.1\r\n") != std::string::npos);
    CHECK(r->body.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
    CHECK(r->body.find("X-Request-Id: my-id-1\r\n") != std::string::npos);
    CHECK(r->body.find("X-Secret") == std::string::npos);
    CHECK(r->body.find("Connection:") == std::string::npos);

    REQUIRE(c->send(get_request("/echo")));
    r = c->read_response();
    REQUIRE(r);
    auto at = r->body.find("X-Request-Id: ");
    REQUIRE(at != std::string::npos);
    CHECK(r->body.substr(at + 14, r->body.find("\r\n", at) - at - 14).size() == 32);
}

TEST_CASE("limits answer with their status codes", "[http][limits]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api), {"--access-log", "off", "--max-header", "4K", "--max-body", "1K",
                                                  "--client-timeout", "1s", "--upstream-timeout", "1s"});
    SECTION("431 for a head over --max-header") {
        auto c = Conn::tcp(p->port);
        REQUIRE(c->send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(5000, 'a') + "\r\n\r\n"));
        auto r = c->read_response();
        REQUIRE(r);
        CHECK(r->status == 431);
        CHECK(c->closed());
    }
    SECTION("413 for a declared body over --max-body") {
        auto c = Conn::tcp(p->port);
        REQUIRE(c->send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'x')));
        auto r = c->read_response();
        REQUIRE(r);
        CHECK(r->status == 413);
    }
    SECTION("413 for a chunked body that grows over --max-body") {
        auto c = Conn::tcp(p->port);
        REQUIRE(c->send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(2048, 'x') +
                        "\r\n0\r\n\r\n"));
        auto r = c->read_response();
        REQUIRE(r);
        CHECK(r->status == 413);
    }
    SECTION("408 when the client stalls mid-head") {
        auto c = Conn::tcp(p->port);
        REQUIRE(c->send("GET / HTTP/1.1\r\nHost: t\r\n"));
        auto r = c->read_response(false, 5000ms);
        REQUIRE(r);
        CHECK(r->status == 408);
    }
    SECTION("an idle keep-alive connection is closed silently") {
        auto c = Conn::tcp(p->port);
        CHECK(c->closed(5000ms));
    }
    SECTION("504 when the upstream does not answer in time") {
        auto r = http_get(p->port, "/slow/3000");
        REQUIRE(r);
        CHECK(r->status == 504);
    }
}

TEST_CASE("no usable server: 503, every server failing: 502", "[http][limits]") {
    Fixture f;
    const int dead1 = free_port(), dead2 = free_port();
    auto p = start_proxy("[upstream:dead]\nservers = 127.0.0.1:" + std::to_string(dead1) + " 127.0.0.1:" +
                             std::to_string(dead2) + "\n\n[upstream:web]\nservers = " + f.a.address() +
                             "\n\n[proxy:public]\nlisten = 127.0.0.1:{PORT}\nroute = /dead/ dead\nroute = / web\n",
                         {"--access-log", "off"});
    auto r = http_get(p->port, "/dead/x");
    REQUIRE(r);
    CHECK(r->status == 502);
    auto a = admin_call(p->admin, "POST", "/v1/pools/web/servers/" + f.a.address() + "/state", R"({"state":"down"})");
    REQUIRE(a);
    REQUIRE(a->status == 200);
    r = http_get(p->port, "/x");
    REQUIRE(r);
    CHECK(r->status == 503);
}

TEST_CASE("smuggling vectors get 400 and the connection closes", "[http][smuggling]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api), {"--access-log", "off"});
    const std::string base = "POST / HTTP/1.1\r\nHost: t\r\n";
    const std::vector<std::string> vectors = {
        base + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        base + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
        base + "Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
        base + "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
        base + "Content-Length: 4,4\r\n\r\nabcd",
        base + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        base + "Transfer-Encoding:\tchunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        base + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        base + "X: y\r\n Transfer-Encoding: chunked\r\n\r\n",
        base + "Content-Length: 4\nX: y\r\n\r\nabcd",
        base + "Transfer-Encoding: chunked\r\n\r\n4\nabcd\r\n0\r\n\r\n",
        base + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    };
    for (const auto& v : vectors) {
        INFO(v);
        auto c = Conn::tcp(p->port);
        REQUIRE(c);
        REQUIRE(c->send(v + get_request("/smuggled")));
        auto r = c->read_response();
        REQUIRE(r);
        CHECK(r->status == 400);
        CHECK(c->closed());  // the smuggled second request is never answered
    }
    // Still serving.
    auto r = http_get(p->port, "/x");
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("rate limit: 429 with Retry-After past N per minute per client", "[http][ratelimit]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api, "rate_limit = 5/min\n"), {"--access-log", "off"});
    auto c = Conn::tcp(p->port);
    for (int i = 0; i < 5; ++i) {
        REQUIRE(c->send(get_request("/x")));
        auto r = c->read_response();
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    REQUIRE(c->send(get_request("/x")));
    auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->status == 429);
    CHECK(std::stoi(r->header("retry-after")) >= 1);
    CHECK(std::stoi(r->header("retry-after")) <= 12);
    // Same client on a new connection (maybe another worker): still limited.
    r = http_get(p->port, "/x");
    REQUIRE(r);
    CHECK(r->status == 429);
}

TEST_CASE("bodies stream both ways, CL and chunked", "[http][body]") {
    Fixture f;
    auto p = start_proxy(pools(f.a, f.b, f.api), {"--access-log", "off"});
    auto c = Conn::tcp(p->port);
    const std::string big(300000, 'b');
    REQUIRE(c->send("POST /api/up HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n" + big));
    auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("x-body-bytes") == "300000");

    std::string chunked = "POST /api/up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 50; ++i) chunked += "1000\r\n" + std::string(4096, 'c') + "\r\n";
    chunked += "0\r\n\r\n";
    REQUIRE(c->send(chunked));
    r = c->read_response();
    REQUIRE(r);
    CHECK(r->header("x-body-bytes") == std::to_string(50 * 4096));

    REQUIRE(c->send(get_request("/big/1000000")));
    r = c->read_response(false, 10000ms);
    REQUIRE(r);
    CHECK(r->body.size() == 1000000);
    CHECK(r->header("transfer-encoding") == "chunked");

    REQUIRE(c->send("HEAD /big/10 HTTP/1.1\r\nHost: t\r\n\r\n"));
    r = c->read_response(true);
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(c->send("POST /api/e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
    REQUIRE(c->send("abc"));
    r = c->read_response();
    REQUIRE(r);
    CHECK(r->header("x-body-bytes") == "3");
}
