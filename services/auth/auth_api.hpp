// auth-service's HTTP API (the seed's Service A), on postgres-a.
//
// Routes (each also under the proxy's /auth prefix, which is not stripped):
//   GET  /health, /auth/health     seed's health body; 503 when the DB is unreachable
//   POST /auth/register            {"username","password"} → 201 | 400 | 409
//   POST /auth/login               {"username","password"} → 200 {"token",…} | 400 | 401
//   GET  /auth/validate            Authorization: Bearer T → 200 {"user",…} | 401
// Database failures answer 503, never 500, so the proxy and health checks
// see the outage for what it is.
#pragma once

#include <string>

#include "http_types.hpp"
#include "pg.hpp"

namespace vigil::services::auth {

struct AuthSettings {
    std::string service_name = "auth-service";
    unsigned pbkdf2_iterations = 100'000;
    long long token_ttl_s = 3600;
};

// Creates users and tokens if missing; safe when several instances start
// at once against the same database (an advisory lock serialises them).
void create_schema(PgConn& conn);

class AuthApi {
public:
    AuthApi(PgPool& db, AuthSettings settings) : db_(db), settings_(std::move(settings)) {}

    // Never throws; called concurrently from the server's worker threads.
    Response handle(const Request& req);

private:
    Response health();
    Response register_user(const Request& req);
    Response login(const Request& req);
    Response validate(const Request& req);

    PgPool& db_;
    AuthSettings settings_;
};

}  // namespace vigil::services::auth
