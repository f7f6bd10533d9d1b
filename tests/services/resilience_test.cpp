// Scenario 3 at the service level (Redis down: token validation falls back
// to auth-service, payments keep working) and robustness against bytes that
// are not HTTP.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <csignal>

#include "fixtures.hpp"
#include "util.hpp"

using namespace vigil::services::test;
using nlohmann::json;

namespace {

const std::string kBody = R"({"amount_cents":700,"currency":"EUR"})";

long long validations(const Service& auth) {
    const std::string log = auth.log();
    long long n = 0;
    for (auto pos = log.find("GET /auth/validate 200"); pos != std::string::npos;
         pos = log.find("GET /auth/validate 200", pos + 1)) {
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("Redis down: payments still succeed through auth-service, and the cache is rebuilt when Redis is back") {
    Stack stack;
    std::string token = stack.login("judy");
    const std::string cache_key = "token:" + vigil::services::sha256_hex(token);

    REQUIRE(stack.pay(token, "r1", kBody).status == 201);
    CHECK(stack.redis.command({"EXISTS", cache_key}) == "1");
    auto after_first = validations(*stack.auth);
    REQUIRE(stack.pay(token, "r2", kBody).status == 201);
    CHECK(validations(*stack.auth) == after_first);  // answered from the cache

    stack.redis.stop();
    for (const char* key : {"r3", "r4", "r5"}) {
        auto res = stack.pay(token, key, kBody);
        CHECK(res.status == 201);
    }
    CHECK(validations(*stack.auth) == after_first + 3);  // each one asked auth-service
    CHECK(stack.pay(token, "r3", kBody).status == 200);  // idempotency without Redis
    CHECK(stack.pay(std::string(64, 'b'), "r6", kBody).status == 401);

    stack.redis.start();  // empty: --save '' --appendonly no
    // The health check always tries Redis for real (requests skip it for
    // 500 ms after a failure), so once it reports Redis connected, the next
    // payment goes through the cache again.
    CHECK(json::parse(http(stack.payments->port(), "GET", "/health").body)["redis"] == "connected");
    CHECK(stack.pay(token, "r7", kBody).status == 201);
    CHECK(stack.redis.command({"EXISTS", cache_key}) == "1");
    CHECK(stack.count_payments() == 6);
    CHECK(stack.count_payments("idempotency_key = 'r3'") == 1);
}

TEST_CASE("Redis and auth-service both down: 503, never a wrong 401, nothing stored") {
    Stack stack;
    std::string token = stack.login("ken");
    stack.redis.stop();
    stack.auth->stop();
    auto res = stack.pay(token, "orphan", kBody);
    CHECK(res.status == 503);
    CHECK(stack.count_payments() == 0);
    CHECK(http(stack.payments->port(), "GET", "/health").status == 200);
}

TEST_CASE("malformed HTTP and oversized bodies get an answer and never take a service down") {
    Stack stack;
    for (auto port : {stack.auth->port(), stack.payments->port()}) {
        CHECK(raw_exchange(port, "GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400"));
        CHECK(raw_exchange(port, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n").starts_with("HTTP/1.1 400"));
        // Refused on the announced length, before any of the body is read.
        CHECK(raw_exchange(port, "POST /payments HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
                  .starts_with("HTTP/1.1 413"));
        CHECK(raw_exchange(port, std::string("\0\x01\x02\xff\r\n\r\n", 8)).starts_with("HTTP/1.1 400"));
        // A client that connects and goes away mid-request.
        raw_exchange(port, "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"");
        CHECK(http(port, "GET", "/health").status == 200);
    }
    CHECK(stack.auth->running());
    CHECK(stack.payments->running());
}

TEST_CASE("SIGTERM stops a service cleanly") {
    Stack stack;
    int status = stack.payments->stop(SIGTERM);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    status = stack.auth->stop(SIGTERM);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
