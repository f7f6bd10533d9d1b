// GET /health as the seed shows it, following the real state of the
// database (scenario 2) and of Redis (scenario 3).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <regex>

#include "fixtures.hpp"

using namespace vigil::services::test;
using nlohmann::json;

namespace {

json body_of(const vigil::services::HttpResult& res) { return json::parse(res.body, nullptr, false); }

bool iso8601_ms_utc(const std::string& text) {
    static const std::regex pattern(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
    return std::regex_match(text, pattern);
}

}  // namespace

TEST_CASE("auth-service health follows its database: ok, 503 while down, ok again without a restart") {
    Stack stack;
    for (const char* path : {"/health", "/auth/health"}) {
        auto res = http(stack.auth->port(), "GET", path);
        REQUIRE(res.status == 200);
        auto body = body_of(res);
        CHECK(res.body.starts_with(R"({"status":"ok","timestamp":")"));  // the seed's member order
        CHECK(body["service"] == "auth-service");
        CHECK(body["database"] == "connected");
        CHECK(iso8601_ms_utc(body["timestamp"].get<std::string>()));
        CHECK(body.size() == 4);
    }

    stack.pg.stop();
    auto down = http(stack.auth->port(), "GET", "/health");
    CHECK(down.status == 503);
    CHECK(body_of(down)["status"] == "unavailable");
    CHECK(body_of(down)["database"] == "disconnected");
    // A request that needs the database says so, and the service stays up.
    auto login = http(stack.auth->port(), "POST", "/auth/login", R"({"username":"someone","password":"12345678"})");
    CHECK(login.status == 503);

    stack.pg.start();
    // The very first check after PostgreSQL is back succeeds: the dead
    // pooled connection is replaced, nothing is cached.
    auto up = http(stack.auth->port(), "GET", "/health");
    CHECK(up.status == 200);
    CHECK(body_of(up)["database"] == "connected");
    CHECK(stack.auth->running());
    CHECK_NOTHROW(stack.login("after-restart"));
}

TEST_CASE("auth-service starts while its database is down and creates its schema when it comes up") {
    Postgres pg;
    pg.create_database("auth_db");
    pg.stop();
    Service auth(AUTH_SERVICE_PATH, {"DATABASE_URL=" + pg.url("auth_db"), "PBKDF2_ITERATIONS=1000"});
    CHECK(http(auth.port(), "GET", "/health").status == 503);
    CHECK(http(auth.port(), "POST", "/auth/register", R"({"username":"early","password":"12345678"})").status == 503);

    pg.start();
    CHECK(http(auth.port(), "GET", "/health").status == 200);
    CHECK(http(auth.port(), "POST", "/auth/register", R"({"username":"early","password":"12345678"})").status == 201);
    CHECK(pg.query_value("auth_db", "SELECT count(*) FROM users") == "1");
}

TEST_CASE("a frozen database is reported within the query timeout, and its recovery on the next check") {
    Postgres pg;
    pg.create_database("auth_db");
    Service auth(AUTH_SERVICE_PATH, {"DATABASE_URL=" + pg.url("auth_db"), "DB_TIMEOUT_MS=1000"});
    REQUIRE(http(auth.port(), "GET", "/health").status == 200);

    pg.freeze();
    for (int i = 0; i < 2; ++i) {  // first on the pooled connection, then on a new one
        auto started = std::chrono::steady_clock::now();
        auto res = http(auth.port(), "GET", "/health");
        auto took = std::chrono::steady_clock::now() - started;
        CHECK(res.status == 503);
        CHECK(took < 4s);  // 1 s query timeout, or libpq's 2 s connect_timeout
    }
    pg.thaw();
    CHECK(http(auth.port(), "GET", "/health").status == 200);
}

TEST_CASE("payment-service health: Redis down is degraded but 200, database down is 503") {
    Stack stack;
    for (const char* path : {"/health", "/payments/health"}) {
        auto res = http(stack.payments->port(), "GET", path);
        REQUIRE(res.status == 200);
        CHECK(res.body.starts_with(R"({"status":"ok","timestamp":")"));
        auto body = body_of(res);
        CHECK(body["service"] == "payment-service");
        CHECK(body["database"] == "connected");
        CHECK(body["redis"] == "connected");
        CHECK(iso8601_ms_utc(body["timestamp"].get<std::string>()));
    }

    stack.redis.stop();
    auto degraded = http(stack.payments->port(), "GET", "/health");
    CHECK(degraded.status == 200);
    CHECK(body_of(degraded)["status"] == "degraded");
    CHECK(body_of(degraded)["redis"] == "disconnected");
    CHECK(body_of(degraded)["database"] == "connected");

    stack.pg.stop();
    auto down = http(stack.payments->port(), "GET", "/health");
    CHECK(down.status == 503);
    CHECK(body_of(down)["status"] == "unavailable");
    CHECK(body_of(down)["database"] == "disconnected");

    stack.redis.start();
    stack.pg.start();
    auto up = http(stack.payments->port(), "GET", "/health");
    CHECK(up.status == 200);
    CHECK(body_of(up)["status"] == "ok");
    CHECK(body_of(up)["redis"] == "connected");
}
