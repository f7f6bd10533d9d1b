#include "token_validator.hpp"

#include <algorithm>

#include "json_body.hpp"
#include "log.hpp"
#include "util.hpp"

namespace vigil::services::payment {
namespace {

// Tokens are opaque here, but bounded: anything longer or with control
// characters cannot have been issued by auth-service.
bool plausible_token(const std::string& token) {
    return !token.empty() && token.size() <= 256 &&
           std::all_of(token.begin(), token.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

TokenCheck TokenValidator::check(const std::string& token) {
    TokenCheck result;
    if (!plausible_token(token)) return result;
    const std::string cache_key = "token:" + sha256_hex(token);

    if (auto cached = redis_.get(cache_key); cached && *cached) {
        result.outcome = TokenCheck::Outcome::valid;
        result.user = **cached;
        result.from_cache = true;
        return result;
    }

    auto res = http_request("GET", auth_base_, auth_base_.path + "/validate", {{"Authorization", "Bearer " + token}},
                            "", client_);
    if (!res.ok() || (res.status != 200 && res.status != 401)) {
        service_log().warn("token validation through auth-service failed: {}",
                           res.ok() ? "HTTP " + std::to_string(res.status) : res.error);
        result.outcome = TokenCheck::Outcome::unavailable;
        return result;
    }
    if (res.status == 401) return result;

    auto body = parse_json_object(res.body);
    auto user = body ? string_member(*body, "user") : std::nullopt;
    if (!user || user->empty()) {
        service_log().warn("auth-service answered /validate without a user");
        result.outcome = TokenCheck::Outcome::unavailable;
        return result;
    }
    long long ttl = cache_ttl_s_;
    if (auto it = body->find("expires_in"); it != body->end() && it->is_number_integer()) {
        ttl = std::min(ttl, it->get<long long>());
    }
    if (ttl > 0) redis_.set_ex(cache_key, *user, ttl);  // best effort: Redis may be down
    result.outcome = TokenCheck::Outcome::valid;
    result.user = std::move(*user);
    return result;
}

}  // namespace vigil::services::payment
