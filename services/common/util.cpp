#include "util.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <vector>

namespace vigil::services {

std::string env_or(const char* name, std::string fallback) {
    const char* value = std::getenv(name);
    return value && *value ? std::string(value) : std::move(fallback);
}

std::uint64_t env_uint(const char* name, std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
    const char* value = std::getenv(name);
    if (!value || !*value) return fallback;
    std::string_view text(value);
    std::uint64_t parsed = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    if (ec != std::errc() || end != text.data() + text.size() || parsed < min || parsed > max) {
        throw std::runtime_error(std::string(name) + "='" + value + "': expected an integer in [" +
                                 std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return parsed;
}

namespace {

std::string format_utc(std::time_t seconds, int millis) {
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    return buf;
}

}  // namespace

std::string iso8601_now() {
    using namespace std::chrono;
    auto now = time_point_cast<milliseconds>(system_clock::now()).time_since_epoch().count();
    return format_utc(static_cast<std::time_t>(now / 1000), static_cast<int>(now % 1000));
}

std::string iso8601_from_unix(std::int64_t seconds) { return format_utc(static_cast<std::time_t>(seconds), 0); }

std::string to_hex(const unsigned char* data, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(size * 2, '0');
    for (std::size_t i = 0; i < size; ++i) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0xf];
    }
    return out;
}

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> buf(bytes);
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    return to_hex(buf.data(), buf.size());
}

std::string sha256_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 failed");
    }
    return to_hex(digest, size);
}

}  // namespace vigil::services
