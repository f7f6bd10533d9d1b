// Durations ("1s", "250ms", "1m30s", bare number = seconds as supervisord)
// and sizes ("512M", "50MB", bare number = bytes). Pure, no exceptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/model.hpp"

namespace vigil::config {

std::optional<Duration> parse_duration(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);
std::optional<bool> parse_bool(std::string_view text);  // true/false/yes/no/on/off/1/0
std::optional<int> parse_signal(std::string_view text);  // TERM, SIGTERM, 15
std::string_view signal_name(int sig);                    // "TERM"

}  // namespace vigil::config
