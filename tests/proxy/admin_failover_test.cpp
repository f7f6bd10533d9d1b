// Rewiring through the admin socket (down, draining, up, add, remove, bad
// requests) and failover: a backend killed with SIGKILL under load costs no
// request.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <set>
#include <map>
#include <mutex>
#include <thread>

#include "harness.hpp"

using namespace proxytest;

namespace {
std::string web_pool(const Backend& a, const Backend& b, const std::string& balance = "round_robin") {
    return "[upstream:web]\nbalance = " + balance + "\nservers = " + a.address() + " " + b.address() +
           "\nmax_fails = 3\nfail_timeout = 30s\n\n[proxy:public]\nlisten = 127.0.0.1:{PORT}\nroute = / web\n";
}

std::string state_path(const Backend& b) { return "/v1/pools/web/servers/" + b.address() + "/state"; }
}  // namespace

TEST_CASE("admin: down, draining and up rewire traffic and in-flight requests finish", "[admin]") {
    Backend a = start_backend("a"), b = start_backend("b");
    auto p = start_proxy(web_pool(a, b), {"--access-log", "off"});

    // Rewiring latency: from vigild's request to an answer, after which every
    // worker already routes by the new state.
    const auto t0 = std::chrono::steady_clock::now();
    auto r = admin_call(p->admin, "POST", state_path(b), R"({"state":"down"})");
    const auto rewire = std::chrono::steady_clock::now() - t0;
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(rewire < 50ms);
    for (int i = 0; i < 6; ++i) CHECK(http_get(p->port, "/x")->header("x-backend") == "a");

    // A slow request in flight on a, then a drains and b comes back.
    auto slow = Conn::tcp(p->port);
    REQUIRE(slow->send(get_request("/slow/1500")));
    REQUIRE(a.proc.wait_line("REQUEST /slow/1500"));
    r = admin_call(p->admin, "GET", "/v1/pools/web/servers/" + a.address());
    REQUIRE(r);
    INFO(r->body);
    // >= 1: the previous request's count may drop a moment after its client
    // has read the response.
    auto at = r->body.find("\"active\":");
    REQUIRE(at != std::string::npos);
    CHECK(std::stoi(r->body.substr(at + 9)) >= 1);
    REQUIRE(admin_call(p->admin, "POST", state_path(a), R"({"state":"draining"})")->status == 200);
    REQUIRE(admin_call(p->admin, "POST", state_path(b), R"({"state":"up"})")->status == 200);
    for (int i = 0; i < 6; ++i) CHECK(http_get(p->port, "/x")->header("x-backend") == "b");
    auto done = slow->read_response(false, 5000ms);
    REQUIRE(done);
    CHECK(done->status == 200);
    CHECK(done->header("x-backend") == "a");
    r = admin_call(p->admin, "GET", "/v1/pools");
    REQUIRE(r);
    CHECK(r->body.find("\"state\":\"draining\"") != std::string::npos);

    // Back up: traffic returns at once.
    REQUIRE(admin_call(p->admin, "POST", state_path(a), R"({"state":"up"})")->status == 200);
    std::set<std::string> seen;
    for (int i = 0; i < 4; ++i) seen.insert(http_get(p->port, "/x")->header("x-backend"));
    CHECK(seen == std::set<std::string>{"a", "b"});
}

TEST_CASE("admin: servers are added and removed live", "[admin]") {
    Backend a = start_backend("a"), b = start_backend("b"), c = start_backend("c");
    auto p = start_proxy(web_pool(a, b), {"--access-log", "off"});
    auto r = admin_call(p->admin, "PUT", "/v1/pools/web/servers/c", "{\"address\":\"" + c.address() + "\"}");
    REQUIRE(r);
    CHECK(r->status == 201);
    std::map<std::string, int> seen;
    for (int i = 0; i < 9; ++i) ++seen[http_get(p->port, "/x")->header("x-backend")];
    CHECK(seen["c"] == 3);
    REQUIRE(admin_call(p->admin, "DELETE", "/v1/pools/web/servers/c")->status == 200);
    REQUIRE(admin_call(p->admin, "DELETE", "/v1/pools/web/servers/" + a.address())->status == 200);
    for (int i = 0; i < 4; ++i) CHECK(http_get(p->port, "/x")->header("x-backend") == "b");
    r = admin_call(p->admin, "GET", "/metrics");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.find("vigil_proxy_requests_total{pool=\"web\",server=\"" + b.address() + "\",class=\"2xx\"}") !=
          std::string::npos);
}

TEST_CASE("admin: bad requests get 400/404 and the proxy stays up", "[admin]") {
    Backend a = start_backend("a"), b = start_backend("b");
    auto p = start_proxy(web_pool(a, b), {"--access-log", "off"});
    CHECK(admin_call(p->admin, "POST", state_path(a), "{nope")->status == 400);
    CHECK(admin_call(p->admin, "POST", state_path(a), R"({"state":"maybe"})")->status == 400);
    CHECK(admin_call(p->admin, "POST", "/v1/pools/none/servers/x/state", R"({"state":"up"})")->status == 404);
    CHECK(admin_call(p->admin, "PUT", "/v1/pools/web/servers/x", R"({"address":"nowhere"})")->status == 400);
    CHECK(admin_call(p->admin, "GET", "/nothing")->status == 404);
    {
        auto c = Conn::unix_socket(p->admin);
        REQUIRE(c);
        REQUIRE(c->send("THIS IS NOT HTTP\r\n\r\n"));
        auto r = c->read_response();
        REQUIRE(r);
        CHECK(r->status == 400);
    }
    {
        auto c = Conn::unix_socket(p->admin);
        REQUIRE(c->send("POST /v1/pools/web/servers/x/state HTTP/1.1\r\nHost: p\r\nContent-Length: 99999999\r\n\r\n"));
        auto r = c->read_response();
        REQUIRE(r);
        CHECK(r->status == 400);
    }
    auto r = http_get(p->port, "/x");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(admin_call(p->admin, "GET", "/v1/pools")->status == 200);
}

TEST_CASE("a backend killed under load costs no request", "[failover]") {
    Backend a = start_backend("a"), b = start_backend("b");
    auto p = start_proxy(web_pool(a, b, "least_conn"), {"--access-log", "off"});

    constexpr int clients = 8, per_client = 400;
    std::atomic<int> ok{0}, failed{0}, from_b_after{0};
    std::atomic<bool> killed{false};
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
        threads.emplace_back([&] {
            auto c = Conn::tcp(p->port);
            for (int i = 0; i < per_client; ++i) {
                if (!c) c = Conn::tcp(p->port);
                std::optional<Response> r;
                if (c && c->send(get_request("/x"))) r = c->read_response(false, 5000ms);
                if (r && r->status == 200) {
                    if (killed && r->header("x-backend") == "b") ++from_b_after;
                    if (++ok == clients * per_client / 4) cv.notify_all();
                } else {
                    ++failed;
                    c.reset();
                }
                if (r && !r->keep_alive) c.reset();
            }
        });
    }
    {
        std::unique_lock lock(mu);
        cv.wait_for(lock, 20s, [&] { return ok >= clients * per_client / 4; });
    }
    a.proc.signal(SIGKILL);
    killed = true;
    for (auto& t : threads) t.join();
    CHECK(failed == 0);
    CHECK(ok == clients * per_client);
    CHECK(from_b_after > 0);
    auto m = admin_call(p->admin, "GET", "/metrics");
    REQUIRE(m);
    INFO(m->body);
    CHECK(m->body.find("vigil_proxy_requests_total{pool=\"web\",server=\"\",class=\"5xx\"} 0") != std::string::npos);
}

TEST_CASE("a rolling restart driven through the admin API costs no request", "[failover][admin]") {
    // What vigild's `restart --rolling` does for each instance: drain it,
    // wait for its in-flight requests, stop it, start it, mark it up.
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(std::make_unique<Backend>(start_backend("a")));
    backends.push_back(std::make_unique<Backend>(start_backend("b")));
    auto p = start_proxy(web_pool(*backends[0], *backends[1], "least_conn"), {"--access-log", "off"});

    std::atomic<bool> done{false};
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> load;
    for (int t = 0; t < 4; ++t) {
        load.emplace_back([&] {
            std::optional<Conn> c;
            while (!done) {
                if (!c) c = Conn::tcp(p->port);
                std::optional<Response> r;
                if (c && c->send(get_request("/x"))) r = c->read_response(false, 5000ms);
                if (r && r->status == 200) ++ok;
                else { ++failed; c.reset(); }
                if (r && !r->keep_alive) c.reset();
            }
        });
    }
    for (auto& slot : backends) {
        Backend& b = *slot;
        const std::string server = "/v1/pools/web/servers/" + b.address();
        REQUIRE(admin_call(p->admin, "POST", server + "/state", R"({"state":"draining"})")->status == 200);
        bool drained = false;
        for (int i = 0; i < 2000 && !drained; ++i) {  // each poll is a request/answer, bounded
            auto r = admin_call(p->admin, "GET", server);
            drained = r && r->body.find("\"active\":0") != std::string::npos;
        }
        REQUIRE(drained);
        const int port = b.port;
        b.proc.signal(SIGKILL);
        b.proc.wait_exit();
        const std::string name = b.name + "2";
        slot = std::make_unique<Backend>(
            Backend{Child({PROXY_BACKEND_PATH, "--name", name, "--port", std::to_string(port)}), port, name});
        REQUIRE(slot->proc.wait_line("PORT "));
        REQUIRE(admin_call(p->admin, "POST", server + "/state", R"({"state":"up"})")->status == 200);
    }
    done = true;
    for (auto& t : load) t.join();
    CHECK(failed == 0);
    CHECK(ok > 0);
    // Both restarted instances serve again: each asked alone, the other held
    // out (least_conn may send every sequential request to one of them).
    for (std::size_t only = 0; only < 2; ++only) {
        const std::string other = "/v1/pools/web/servers/" + backends[1 - only]->address() + "/state";
        REQUIRE(admin_call(p->admin, "POST", other, R"({"state":"down"})")->status == 200);
        std::string got;  // the workers take the change on their next turn: ask a bounded few times
        for (int i = 0; i < 50 && got != backends[only]->name; ++i) got = http_get(p->port, "/x")->header("x-backend");
        CHECK(got == backends[only]->name);
        REQUIRE(admin_call(p->admin, "POST", other, R"({"state":"up"})")->status == 200);
    }
}

TEST_CASE("slow_start: a backend back up gets a reduced share of the first requests, then its full share", "[admin][slow_start]") {
    Backend a = start_backend("a"), b = start_backend("b");
    auto p = start_proxy("[upstream:web]\nbalance = round_robin\nservers = " + a.address() + " " + b.address() +
                             "\nslow_start = 3s\n\n[proxy:public]\nlisten = 127.0.0.1:{PORT}\nroute = / web\n",
                         {"--access-log", "off"});
    const auto hits_of_a = [&](int n) {
        int hits = 0;
        for (int i = 0; i < n; ++i) {
            auto r = http_get(p->port, "/x");
            REQUIRE(r);
            REQUIRE(r->status == 200);
            hits += r->header("x-backend") == "a";
        }
        return hits;
    };
    CHECK(hits_of_a(40) == 20);  // at start-up, no ramp: strict rotation

    REQUIRE(admin_call(p->admin, "POST", state_path(a), R"({"state":"down"})")->status == 200);
    CHECK(hits_of_a(10) == 0);
    REQUIRE(admin_call(p->admin, "POST", state_path(a), R"({"state":"up"})")->status == 200);
    // The first requests after `up`: a's weight is near 0 (without slow_start: 20 of 40).
    const int early = hits_of_a(40);
    CHECK(early <= 10);

    // Then its share grows to the full half within the ramp (the deadline
    // leaves room for a slow machine).
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    int last = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        last = hits_of_a(20);
        if (last >= 9) break;
    }
    CHECK(last >= 9);
}
