// Password hashing for auth-service: PBKDF2-HMAC-SHA256 with a 16-byte
// random salt, stored as "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>".
// The iteration count travels with each hash, so raising PBKDF2_ITERATIONS
// later leaves existing accounts working.
#pragma once

#include <string>
#include <string_view>

namespace vigil::services::auth {

// Throws std::runtime_error only if OpenSSL itself fails.
std::string hash_password(std::string_view password, unsigned iterations);

// Constant-time comparison; false for a malformed stored value.
bool verify_password(std::string_view password, std::string_view stored);

// Spends the same work as verify_password against a real hash, so that a
// login for an unknown user is not measurably faster than a wrong password.
void burn_password_time(std::string_view password, unsigned iterations);

}  // namespace vigil::services::auth
