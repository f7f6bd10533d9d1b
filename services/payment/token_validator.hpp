// Bearer-token validation for payment-service (docs/services.md, "Tokens in B").
//
// First Redis: `token:<sha256(T)>` → user name, kept at most 60 s (never
// longer than the token lives). On a miss, or when Redis is down, ask
// auth-service: GET {AUTH_URL}/validate with the same Authorization header;
// a valid answer is cached again when Redis is up. Only the token's hash
// is used as a key, so `redis-cli KEYS` shows no usable credentials.
#pragma once

#include <string>

#include "http_client.hpp"
#include "redis.hpp"

namespace vigil::services::payment {

struct TokenCheck {
    enum class Outcome { valid, invalid, unavailable } outcome = Outcome::invalid;
    std::string user;    // when valid
    bool from_cache = false;
};

class TokenValidator {
public:
    TokenValidator(RedisClient& redis, Url auth_base, ClientOptions client, long long cache_ttl_s)
        : redis_(redis), auth_base_(std::move(auth_base)), client_(std::move(client)), cache_ttl_s_(cache_ttl_s) {}

    // Never throws. `unavailable`: neither the cache nor auth-service could
    // answer, so the caller must not treat the token as invalid (503, not 401).
    TokenCheck check(const std::string& token);

private:
    RedisClient& redis_;
    Url auth_base_;
    ClientOptions client_;
    long long cache_ttl_s_;
};

}  // namespace vigil::services::payment
