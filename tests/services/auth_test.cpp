// Service A: register, login, validate; bad input; what is stored and logged.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"

using namespace vigil::services::test;
using nlohmann::json;

namespace {

std::string creds(const std::string& user, const std::string& password) {
    return json{{"username", user}, {"password", password}}.dump();
}

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

}  // namespace

TEST_CASE("register, login and validate") {
    Stack stack;
    auto port = stack.auth->port();

    auto reg = http(port, "POST", "/auth/register", creds("alice", "wonderland!"));
    REQUIRE(reg.status == 201);
    CHECK(json::parse(reg.body)["username"] == "alice");
    CHECK(http(port, "POST", "/auth/register", creds("alice", "another-one")).status == 409);

    auto login = http(port, "POST", "/auth/login", creds("alice", "wonderland!"));
    REQUIRE(login.status == 200);
    std::string token = json::parse(login.body)["token"];
    CHECK(token.size() == 64);
    CHECK(token.find_first_not_of("0123456789abcdef") == std::string::npos);
    auto second = json::parse(http(port, "POST", "/auth/login", creds("alice", "wonderland!")).body)["token"];
    CHECK(second != token);  // fresh randomness per login

    CHECK(http(port, "POST", "/auth/login", creds("alice", "wrong-password")).status == 401);
    CHECK(http(port, "POST", "/auth/login", creds("nobody", "wonderland!")).status == 401);

    auto valid = http(port, "GET", "/auth/validate", "", bearer(token));
    REQUIRE(valid.status == 200);
    CHECK(json::parse(valid.body)["user"] == "alice");
    CHECK(json::parse(valid.body)["expires_in"].get<long long>() > 3000);

    std::string forged = token;
    forged[0] = forged[0] == 'a' ? 'b' : 'a';
    CHECK(http(port, "GET", "/auth/validate", "", bearer(forged)).status == 401);
    CHECK(http(port, "GET", "/auth/validate", "", bearer("not-a-token")).status == 401);
    CHECK(http(port, "GET", "/auth/validate").status == 401);
    CHECK(http(port, "GET", "/auth/validate", "", {{"Authorization", "Basic " + token}}).status == 401);

    // Expired tokens are refused even though they are in the table.
    stack.pg.query_value("auth_db", "UPDATE tokens SET expires_at = now() - interval '1 second'");
    CHECK(http(port, "GET", "/auth/validate", "", bearer(token)).status == 401);
}

TEST_CASE("auth-service answers bad input with the right 4xx and stores nothing") {
    Stack stack;
    auto port = stack.auth->port();
    CHECK(http(port, "POST", "/auth/register", "").status == 400);
    CHECK(http(port, "POST", "/auth/register", "{not json").status == 400);
    CHECK(http(port, "POST", "/auth/register", "[1,2]").status == 400);
    CHECK(http(port, "POST", "/auth/register", R"({"username":"bob"})").status == 400);
    CHECK(http(port, "POST", "/auth/register", R"({"username":42,"password":"12345678"})").status == 400);
    CHECK(http(port, "POST", "/auth/register", creds("bob", "short")).status == 400);
    CHECK(http(port, "POST", "/auth/register", creds("bad name", "12345678")).status == 400);
    CHECK(http(port, "POST", "/auth/register", creds(std::string(65, 'x'), "12345678")).status == 400);
    CHECK(http(port, "POST", "/auth/login", "{}").status == 400);
    CHECK(http(port, "GET", "/auth/register").status == 405);
    CHECK(http(port, "GET", "/auth/nothing-here").status == 404);
    CHECK(stack.pg.query_value("auth_db", "SELECT count(*) FROM users") == "0");
    CHECK(stack.pg.query_value("auth_db", "SELECT count(*) FROM tokens") == "0");
}

TEST_CASE("passwords and tokens are stored hashed and never logged") {
    Stack stack;
    const std::string password = "very-secret-password";
    std::string token = stack.login("carol", password);
    CHECK(http(stack.auth->port(), "GET", "/auth/validate", "", bearer(token)).status == 200);
    CHECK(stack.pay(token, "k-log", R"({"amount_cents":100,"currency":"EUR"})").status == 201);

    std::string stored = stack.pg.query_value("auth_db", "SELECT password_hash FROM users WHERE username = 'carol'");
    CHECK(stored.starts_with("pbkdf2-sha256$1000$"));
    CHECK(stored.find(password) == std::string::npos);
    CHECK(stack.pg.query_value("auth_db", "SELECT count(*) FROM tokens WHERE token_hash = '" + token + "'") == "0");
    CHECK(stack.pg.query_value("auth_db", "SELECT count(*) FROM tokens") == "1");

    for (const auto& log : {stack.auth->log(), stack.payments->log()}) {
        CHECK(log.find(password) == std::string::npos);
        CHECK(log.find(token) == std::string::npos);
    }
    // One access line per request: method, path, status, duration.
    CHECK(stack.auth->log().find("POST /auth/login 200 ") != std::string::npos);
    CHECK(stack.payments->log().find("POST /payments 201 ") != std::string::npos);
}
