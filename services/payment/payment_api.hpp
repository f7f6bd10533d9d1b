// payment-service's HTTP API (the seed's Service B), on postgres-b and Redis.
//
// Routes (also under the proxy's /payments prefix, which is not stripped):
//   GET  /health, /payments/health   seed's health body with "redis"; 503 only
//                                    when the database is unreachable
//   POST /payments, /payments/       Authorization: Bearer T, Idempotency-Key: K,
//                                    {"amount_cents","currency","description"?}
//                                    → 201 new | 200 replay | 400 | 401 | 422 | 503
//   GET  /payments/{id}              Authorization: Bearer T → 200 | 401 | 404
#pragma once

#include <string>

#include "http_types.hpp"
#include "payment_store.hpp"
#include "pg.hpp"
#include "redis.hpp"
#include "token_validator.hpp"

namespace vigil::services::payment {

struct PaymentSettings {
    std::string service_name = "payment-service";
    long long idempotency_cache_ttl_s = 24 * 3600;
};

class PaymentApi {
public:
    PaymentApi(PgPool& db, RedisClient& redis, TokenValidator& tokens, PaymentSettings settings)
        : db_(db), redis_(redis), tokens_(tokens), store_(db), settings_(std::move(settings)) {}

    // Never throws; called concurrently from the server's worker threads.
    Response handle(const Request& req);

private:
    Response health();
    Response create(const Request& req);
    Response get(const Request& req, const std::string& id);
    // Sets `user` or returns the 401/503 to send.
    std::optional<Response> authenticate(const Request& req, std::string& user);

    PgPool& db_;
    RedisClient& redis_;
    TokenValidator& tokens_;
    PaymentStore store_;
    PaymentSettings settings_;
};

}  // namespace vigil::services::payment
