// Percent-escapes (RFC 3986 §2.1) and hex digits, shared by vigild (control
// API paths) and vigil-proxy (request targets, admin paths, chunk sizes).
#pragma once

#include <string>
#include <string_view>

namespace vigil {

// The value of one hex digit, or -1.
constexpr int hex_digit(unsigned char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// One percent-escape's value at s[0..2] ("%41" → 0x41), or -1.
constexpr int percent_value(std::string_view s) noexcept {
    if (s.size() < 3 || s[0] != '%') return -1;
    const int hi = hex_digit(static_cast<unsigned char>(s[1])), lo = hex_digit(static_cast<unsigned char>(s[2]));
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Every escape decoded; a malformed one stays as it is.
std::string percent_decode(std::string_view s);

}  // namespace vigil
