// Service B: payments acknowledged only after commit, idempotency decided by
// postgres-b, bad input refused without storing anything.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>
#include <thread>

#include "fixtures.hpp"

using namespace vigil::services::test;
using nlohmann::json;

namespace {

const std::string kBody = R"({"amount_cents":1250,"currency":"EUR","description":"coffee"})";

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

}  // namespace

TEST_CASE("a payment is acknowledged with 201 after commit and readable by its owner") {
    Stack stack;
    std::string token = stack.login("dave");

    auto res = stack.pay(token, "order-1", kBody);
    REQUIRE(res.status == 201);
    auto body = json::parse(res.body);
    std::string id = body["id"];
    CHECK(id.starts_with("pay_"));
    CHECK(body["amount_cents"] == 1250);
    CHECK(body["currency"] == "EUR");
    CHECK(body["status"] == "captured");
    CHECK(body["description"] == "coffee");
    CHECK(stack.count_payments("id = '" + id + "' AND amount_cents = 1250 AND username = 'dave'") == 1);

    // The proxy's route prefix is /payments/, so the slash form works too.
    auto slash = http(stack.payments->port(), "POST", "/payments/", R"({"amount_cents":5,"currency":"USD"})",
                      {{"Authorization", "Bearer " + token}, {"Idempotency-Key", "order-2"}});
    CHECK(slash.status == 201);
    CHECK(stack.count_payments() == 2);

    auto got = http(stack.payments->port(), "GET", "/payments/" + id, "", bearer(token));
    REQUIRE(got.status == 200);
    CHECK(json::parse(got.body)["id"] == id);
    CHECK(http(stack.payments->port(), "GET", "/payments/pay_00000000000000000000000000000000", "", bearer(token))
              .status == 404);
    CHECK(http(stack.payments->port(), "GET", "/payments/../etc/passwd", "", bearer(token)).status == 404);
    CHECK(http(stack.payments->port(), "GET", "/payments/" + id).status == 401);
    std::string other = stack.login("eve");
    CHECK(http(stack.payments->port(), "GET", "/payments/" + id, "", bearer(other)).status == 404);
}

TEST_CASE("a replayed idempotency key returns the original payment and stores it once") {
    Stack stack;
    std::string token = stack.login("frank");
    auto first = stack.pay(token, "replay-key", kBody);
    REQUIRE(first.status == 201);
    std::string id = json::parse(first.body)["id"];

    auto replay = stack.pay(token, "replay-key", kBody);
    CHECK(replay.status == 200);
    CHECK(replay.header("idempotent-replay") == "true");
    CHECK(json::parse(replay.body)["id"] == id);

    // Without the Redis fast path, the database alone gives the same answer.
    stack.redis.command({"FLUSHALL"});
    auto from_db = stack.pay(token, "replay-key", kBody);
    CHECK(from_db.status == 200);
    CHECK(json::parse(from_db.body)["id"] == id);

    // Same key, different request: refused, not silently merged.
    CHECK(stack.pay(token, "replay-key", R"({"amount_cents":9999,"currency":"EUR"})").status == 422);
    std::string other = stack.login("grace");
    CHECK(stack.pay(other, "replay-key", kBody).status == 422);
    CHECK(stack.count_payments() == 1);

    // Concurrent retries of one request: one row, one id for everyone.
    constexpr int kClients = 8;
    std::vector<vigil::services::HttpResult> results(kClients);
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&, i] { results[i] = stack.pay(token, "concurrent-key", kBody); });
    }
    for (auto& t : clients) t.join();
    std::set<std::string> ids;
    int created = 0;
    for (const auto& r : results) {
        REQUIRE((r.status == 201 || r.status == 200));
        created += r.status == 201;
        ids.insert(json::parse(r.body)["id"].get<std::string>());
    }
    CHECK(created == 1);
    CHECK(ids.size() == 1);
    CHECK(stack.count_payments("idempotency_key = 'concurrent-key'") == 1);
}

TEST_CASE("malformed payments and bad tokens get the right 4xx and store nothing") {
    Stack stack;
    std::string token = stack.login("heidi");
    struct Case {
        const char* what;
        std::string token, key, body;
        int status;
    };
    const std::vector<Case> cases = {
        {"no body", token, "k1", "", 400},
        {"not JSON", token, "k2", "{amount_cents: 5", 400},
        {"JSON array", token, "k3", "[1250, \"EUR\"]", 400},
        {"amount missing", token, "k4", R"({"currency":"EUR"})", 400},
        {"amount zero", token, "k5", R"({"amount_cents":0,"currency":"EUR"})", 400},
        {"amount negative", token, "k6", R"({"amount_cents":-5,"currency":"EUR"})", 400},
        {"amount fractional", token, "k7", R"({"amount_cents":12.5,"currency":"EUR"})", 400},
        {"amount as string", token, "k8", R"({"amount_cents":"1250","currency":"EUR"})", 400},
        {"amount overflowing", token, "k9", R"({"amount_cents":18446744073709551615,"currency":"EUR"})", 400},
        {"currency missing", token, "k10", R"({"amount_cents":5})", 400},
        {"currency lower-case", token, "k11", R"({"amount_cents":5,"currency":"eur"})", 400},
        {"currency too long", token, "k12", R"({"amount_cents":5,"currency":"EURO"})", 400},
        {"description not a string", token, "k13", R"({"amount_cents":5,"currency":"EUR","description":7})", 400},
        {"no idempotency key", token, "", kBody, 400},
        {"no token", "", "k14", kBody, 401},
        {"unknown token", std::string(64, 'a'), "k15", kBody, 401},
        {"oversized token", std::string(300, 'z'), "k16", kBody, 401},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        CHECK(stack.pay(c.token, c.key, c.body).status == c.status);
    }
    CHECK(stack.count_payments() == 0);
    CHECK(http(stack.payments->port(), "DELETE", "/payments/x", "", bearer(token)).status == 405);
    CHECK(http(stack.payments->port(), "GET", "/elsewhere").status == 404);
    // The key of a refused request is still free for the corrected one.
    CHECK(stack.pay(token, "k5", R"({"amount_cents":5,"currency":"EUR"})").status == 201);
    CHECK(stack.count_payments() == 1);
}

TEST_CASE("database down: 503 and nothing acknowledged, then the same key succeeds once it is back") {
    Stack stack;
    std::string token = stack.login("ivan");
    REQUIRE(stack.pay(token, "before", kBody).status == 201);

    stack.pg.stop();
    auto res = stack.pay(token, "during", kBody);
    CHECK(res.status == 503);
    CHECK(http(stack.payments->port(), "GET", "/payments/pay_00000000000000000000000000000000", "", bearer(token))
              .status == 503);

    stack.pg.start();
    auto retry = stack.pay(token, "during", kBody);
    CHECK(retry.status == 201);
    CHECK(stack.count_payments() == 2);
    CHECK(stack.count_payments("idempotency_key = 'during'") == 1);
    CHECK(stack.payments->running());
}
