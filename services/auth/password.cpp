#include "password.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <charconv>
#include <optional>
#include <stdexcept>
#include <vector>

#include "util.hpp"

namespace vigil::services::auth {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

std::vector<unsigned char> derive(std::string_view password, const std::vector<unsigned char>& salt,
                                  unsigned iterations) {
    std::vector<unsigned char> out(kHashBytes);
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(out.size()), out.data()) != 1) {
        throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
    }
    return out;
}

std::optional<std::vector<unsigned char>> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::vector<unsigned char> out(hex.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, value, 16);
        if (ec != std::errc() || end != hex.data() + 2 * i + 2) return std::nullopt;
        out[i] = static_cast<unsigned char>(value);
    }
    return out;
}

}  // namespace

std::string hash_password(std::string_view password, unsigned iterations) {
    auto salt = from_hex(random_hex(kSaltBytes)).value();
    auto hash = derive(password, salt, iterations);
    return std::string(kScheme) + "$" + std::to_string(iterations) + "$" + to_hex(salt.data(), salt.size()) + "$" +
           to_hex(hash.data(), hash.size());
}

bool verify_password(std::string_view password, std::string_view stored) {
    // scheme$iterations$salt$hash
    std::string_view parts[4];
    for (int i = 0; i < 3; ++i) {
        auto sep = stored.find('$');
        if (sep == std::string_view::npos) return false;
        parts[i] = stored.substr(0, sep);
        stored.remove_prefix(sep + 1);
    }
    parts[3] = stored;
    if (parts[0] != kScheme) return false;
    unsigned iterations = 0;
    auto [end, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), iterations);
    if (ec != std::errc() || end != parts[1].data() + parts[1].size() || iterations == 0 || iterations > 10'000'000) {
        return false;
    }
    auto salt = from_hex(parts[2]);
    auto expected = from_hex(parts[3]);
    if (!salt || !expected || expected->size() != kHashBytes) return false;
    auto actual = derive(password, *salt, iterations);
    return CRYPTO_memcmp(actual.data(), expected->data(), kHashBytes) == 0;
}

void burn_password_time(std::string_view password, unsigned iterations) {
    std::vector<unsigned char> salt(kSaltBytes, 0);
    derive(password, salt, iterations);
}

}  // namespace vigil::services::auth
