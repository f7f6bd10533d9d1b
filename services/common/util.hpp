// Small helpers both services need: settings from the environment, time
// stamps in the seed's format, and randomness/hashing through OpenSSL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::services {

// The variable's value, or `fallback` when it is unset or empty.
std::string env_or(const char* name, std::string fallback);

// An integer setting in [min, max]; throws std::runtime_error naming the
// variable when it is set to anything else, so a typo fails at start-up.
std::uint64_t env_uint(const char* name, std::uint64_t fallback, std::uint64_t min, std::uint64_t max);

// "2024-01-01T12:00:00.000Z": UTC, milliseconds, as in the seed's health body.
std::string iso8601_now();
std::string iso8601_from_unix(std::int64_t seconds);

// Lowercase hex of `bytes` bytes from RAND_bytes; throws if the CSPRNG fails.
std::string random_hex(std::size_t bytes);

std::string sha256_hex(std::string_view data);
std::string to_hex(const unsigned char* data, std::size_t size);

}  // namespace vigil::services
