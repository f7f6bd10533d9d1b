// Admin API routing and registry updates, without sockets.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "config/loader.hpp"
#include "proxy/admin_api.hpp"
#include "proxy/metrics.hpp"

using namespace vigil;
using namespace vigil::proxy;
using json = nlohmann::json;

namespace {
Registry make_registry(const char* text) {
    auto r = config::load_string(text, "/tmp/test.ini", {});
    if (!r.ok()) {
        for (auto& e : r.errors) UNSCOPED_INFO(e.to_string());
    }
    REQUIRE(r.ok());
    std::vector<std::string> errors;
    auto reg = Registry::from_config(*r.config, errors);
    for (auto& e : errors) UNSCOPED_INFO(e);
    REQUIRE(reg);
    return std::move(*reg);
}

AdminReply call(Registry& reg, const char* method, const char* target, const std::string& body = "") {
    std::vector<std::unique_ptr<ListenerStats>> none;
    return handle_admin(reg, method, target, body, [&] { return render_metrics(*reg.snapshot(), none); });
}
}  // namespace

TEST_CASE("program names resolve to their processes' addresses", "[admin]") {
    const char* simple = R"([vigil]
state_dir = /tmp
[program:app]
command = /bin/true
numprocs = 2
process_name = app-%(process_num)d
address = 127.0.0.1:400%(process_num)d
[program:proxy]
kind = proxy
[upstream:web]
servers = app 127.0.0.1:5000
[proxy:public]
listen = 127.0.0.1:8080
route = /api/ web
)";
    Registry reg = make_registry(simple);
    auto snap = reg.snapshot();
    REQUIRE(snap->pools.size() == 1);
    const Pool& p = snap->pools[0];
    REQUIRE(p.servers.size() == 3);
    CHECK(p.servers[0].name == "app-0");
    CHECK(p.servers[0].address == "127.0.0.1:4000");
    CHECK(p.servers[1].port == 4001);
    CHECK(p.servers[2].name == "127.0.0.1:5000");
    CHECK(snap->routes[0].match("/api/x")->pool_index == 0);

    auto r = call(reg, "GET", "/v1/pools");
    REQUIRE(r.status == 200);
    auto j = json::parse(r.body);
    CHECK(j["pools"][0]["name"] == "web");
    CHECK(j["pools"][0]["servers"][1]["state"] == "up");
    CHECK(j["pools"][0]["servers"][1]["active"] == 0);

    SECTION("state changes publish a new snapshot") {
        auto before = reg.snapshot()->version;
        r = call(reg, "POST", "/v1/pools/web/servers/app-1/state", R"({"state":"draining"})");
        CHECK(r.status == 200);
        CHECK(r.changed);
        CHECK(reg.snapshot()->version == before + 1);
        CHECK(reg.snapshot()->pools[0].servers[1].mode == ServerMode::draining);
        // Live counters survive the swap.
        CHECK(reg.snapshot()->pools[0].servers[1].stats == snap->pools[0].servers[1].stats);
        r = call(reg, "POST", "/v1/pools/web/servers/app-1/state", R"({"state":"draining"})");
        CHECK_FALSE(r.changed);
    }
    SECTION("up clears passive ejection") {
        auto& stats = *reg.snapshot()->pools[0].servers[0].stats;
        stats.ejected_until = INT64_MAX;
        call(reg, "POST", "/v1/pools/web/servers/app-0/state", R"({"state":"up"})");
        CHECK_FALSE(stats.ejected(Clock::now()));
    }
    SECTION("servers are added, readdressed and removed") {
        r = call(reg, "PUT", "/v1/pools/web/servers/extra", R"({"address":"127.0.0.1:6000"})");
        CHECK(r.status == 201);
        CHECK(reg.snapshot()->pools[0].servers.size() == 4);
        r = call(reg, "PUT", "/v1/pools/web/servers/extra", R"({"address":"127.0.0.1:6001","state":"down"})");
        CHECK(r.status == 200);
        CHECK(reg.snapshot()->pools[0].servers[3].port == 6001);
        CHECK(reg.snapshot()->pools[0].servers[3].mode == ServerMode::down);
        r = call(reg, "DELETE", "/v1/pools/web/servers/extra");
        CHECK(r.status == 200);
        CHECK(reg.snapshot()->pools[0].servers.size() == 3);
    }
    SECTION("pools are created and replaced whole") {
        r = call(reg, "PUT", "/v1/pools/new",
                 R"({"balance":"round_robin","max_fails":1,"fail_timeout_ms":5000,"servers":[{"name":"a","address":"127.0.0.1:7000"}]})");
        CHECK(r.status == 201);
        const Pool* p2 = reg.snapshot()->find_pool("new");
        REQUIRE(p2);
        CHECK(p2->balance == config::Balance::round_robin);
        CHECK(p2->fail_timeout == std::chrono::milliseconds(5000));
        r = call(reg, "GET", "/v1/pools/new/servers/a");
        CHECK(r.status == 200);
        CHECK(json::parse(r.body)["address"] == "127.0.0.1:7000");
        CHECK(call(reg, "DELETE", "/v1/pools/new").status == 200);
        CHECK(reg.snapshot()->find_pool("new") == nullptr);
    }
    SECTION("bad requests are 400/404/405 and change nothing") {
        auto v = reg.snapshot()->version;
        CHECK(call(reg, "POST", "/v1/pools/web/servers/app-0/state", "not json").status == 400);
        CHECK(call(reg, "POST", "/v1/pools/web/servers/app-0/state", R"({"state":"sideways"})").status == 400);
        CHECK(call(reg, "POST", "/v1/pools/web/servers/app-0/state", R"({"state":1})").status == 400);
        CHECK(call(reg, "POST", "/v1/pools/nope/servers/app-0/state", R"({"state":"up"})").status == 404);
        CHECK(call(reg, "POST", "/v1/pools/web/servers/nope/state", R"({"state":"up"})").status == 404);
        CHECK(call(reg, "PUT", "/v1/pools/web/servers/x", R"({"address":"no-port"})").status == 400);
        CHECK(call(reg, "PUT", "/v1/pools/web/servers/x", R"([1,2])").status == 400);
        CHECK(call(reg, "GET", "/v2/whatever").status == 404);
        CHECK(call(reg, "PATCH", "/v1/pools").status == 405);
        // Out of the config's range, above INT_MAX (once silently truncated) and negative.
        for (const char* n : {"4294967297", "2147483648", "1000001", "-1", "18446744073709551615"}) {
            INFO(n);
            CHECK(call(reg, "PUT", "/v1/pools/web",
                       std::string(R"({"max_fails":)") + n + R"(,"servers":[{"name":"a","address":"127.0.0.1:7000"}]})")
                      .status == 400);
        }
        CHECK(reg.snapshot()->version == v);
    }
    SECTION("metrics are Prometheus text with the pool's series") {
        r = call(reg, "GET", "/metrics");
        CHECK(r.status == 200);
        CHECK(r.content_type.find("text/plain") == 0);
        CHECK(r.body.find("vigil_proxy_requests_total{pool=\"web\",server=\"app-0\",class=\"2xx\"} 0") != std::string::npos);
        CHECK(r.body.find("vigil_proxy_upstream_latency_seconds_bucket{pool=\"web\",server=\"app-0\",le=\"+Inf\"} 0") !=
              std::string::npos);
        CHECK(r.body.find("vigil_proxy_retries_total{pool=\"web\"} 0") != std::string::npos);
        CHECK(r.body.find("vigil_proxy_ejections_total") != std::string::npos);
    }
}

TEST_CASE("slow_start from the config, ramps started by up after down and kept across a PUT of the pool", "[admin][slow_start]") {
    Registry reg = make_registry(R"([vigil]
state_dir = /tmp
[program:proxy]
kind = proxy
[upstream:web]
servers = 127.0.0.1:5000 127.0.0.1:5001
slow_start = 10s
[proxy:public]
listen = 127.0.0.1:8080
route = / web
)");
    const TimePoint t = TimePoint(std::chrono::hours(1));
    const auto weight = [&](std::size_t i, TimePoint now) {
        const Pool& p = reg.snapshot()->pools[0];
        return ramp_weight(p, *p.servers[i].stats, now);
    };
    CHECK(reg.snapshot()->pools[0].slow_start == std::chrono::seconds(10));
    CHECK(weight(0, t) == 1.0);  // at start-up every server has its full share
    CHECK(reg.set_mode("web", "127.0.0.1:5000", ServerMode::up, t).message == "unchanged");
    CHECK(weight(0, t + std::chrono::seconds(1)) == 1.0);  // up while up: no ramp
    REQUIRE(reg.set_mode("web", "127.0.0.1:5000", ServerMode::down, t).ok());
    REQUIRE(reg.set_mode("web", "127.0.0.1:5000", ServerMode::up, t).ok());
    CHECK(weight(0, t + std::chrono::seconds(4)) == Approx(0.4));
    CHECK(weight(1, t + std::chrono::seconds(4)) == 1.0);
    // vigild's PUT of the pool (no slow_start_ms) keeps it; an explicit one replaces it.
    auto r = call(reg, "PUT", "/v1/pools/web",
                  R"({"balance":"round_robin","servers":[{"name":"127.0.0.1:5000","address":"127.0.0.1:5000"}]})");
    REQUIRE(r.status == 200);
    CHECK(reg.snapshot()->pools[0].slow_start == std::chrono::seconds(10));
    r = call(reg, "PUT", "/v1/pools/web", R"({"slow_start_ms":2000,"servers":[{"name":"127.0.0.1:5000","address":"127.0.0.1:5000"}]})");
    REQUIRE(r.status == 200);
    CHECK(reg.snapshot()->pools[0].slow_start == std::chrono::seconds(2));
    const json pool = json::parse(call(reg, "GET", "/v1/pools/web").body);
    CHECK(pool["slow_start_ms"] == 2000);
    CHECK(call(reg, "PUT", "/v1/pools/web", R"({"slow_start_ms":-1})").status == 400);
}

TEST_CASE("role pool members start held and down, the first state vigild sets releases each", "[admin][role]") {
    Registry reg = make_registry(R"([vigil]
state_dir = /tmp
[program:proxy]
kind = proxy
[program:pg-a]
kind = redis
data_dir = /tmp/a
address = 127.0.0.1:7001
[program:pg-b]
kind = redis
data_dir = /tmp/b
address = 127.0.0.1:7002
[upstream:db]
servers = pg-a pg-b
role = replica
[proxy:db]
mode = tcp
listen = 127.0.0.1:6433
route = db
)");
    const Pool* p = reg.snapshot()->find_pool("db");
    REQUIRE(p);
    REQUIRE(p->role == config::Role::replica);
    for (const ServerEntry& s : p->servers) {
        CHECK(s.mode == ServerMode::down);
        CHECK(s.held);
    }
    CHECK(reg.listeners().at(0).tcp);
    CHECK(reg.listeners().at(0).idle_timeout == std::chrono::hours(1));
    // `down` for a held member is news (vigild's word), not "unchanged".
    auto r = call(reg, "POST", "/v1/pools/db/servers/pg-a/state", R"({"state":"down"})");
    CHECK(r.status == 200);
    CHECK(r.changed);
    p = reg.snapshot()->find_pool("db");
    CHECK_FALSE(p->servers[0].held);
    CHECK(p->servers[1].held);
    r = call(reg, "POST", "/v1/pools/db/servers/pg-a/state", R"({"state":"down"})");
    CHECK_FALSE(r.changed);  // now it is
    r = call(reg, "GET", "/v1/pools/db");
    const json j = json::parse(r.body);
    CHECK(j["role"] == "replica");
    CHECK(j["servers"][0]["held"] == false);
    CHECK(j["servers"][1]["held"] == true);
    // A member added to a live role pool is held too, unless a state comes with it.
    CHECK(call(reg, "PUT", "/v1/pools/db/servers/pg-c", R"({"address":"127.0.0.1:7003"})").status == 201);
    CHECK(call(reg, "PUT", "/v1/pools/db/servers/pg-d", R"({"address":"127.0.0.1:7004","state":"up"})").status == 201);
    p = reg.snapshot()->find_pool("db");
    CHECK(p->servers[2].held);
    CHECK(p->servers[2].mode == ServerMode::down);
    CHECK_FALSE(p->servers[3].held);
    CHECK(p->servers[3].mode == ServerMode::up);
}
