// Parsers for the structured values of the config (lists, host:port, health
// check URLs, environment, backoff, rate limits). Each takes the already
// expanded text and returns nullopt with `error` set to a message that does
// not name the key: the caller knows which key and line it was.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/model.hpp"

namespace vigil::config {

std::string_view trim(std::string_view s);

// Items separated by whitespace and/or commas; empty items dropped.
std::vector<std::string> split_list(std::string_view text);

// Names of programs, processes, groups, upstreams and proxies, as supervisord
// allows them (datatypes.process_or_group_name: no space, ':' or '/'; so
// Unicode letters and '+' are fine), and, because they are also log file
// names, not "." or "..", no control characters and at most 240 bytes.
// vigilctl percent-encodes them in URLs.
bool valid_name(std::string_view name);
inline constexpr std::string_view kValidNameHint = "no space, ':', '/' or control character; not '.' or '..'";

std::optional<long long> parse_int(std::string_view text, long long min, long long max, std::string& error);
std::optional<double> parse_positive_double(std::string_view text, std::string& error);
std::optional<unsigned> parse_umask(std::string_view text, std::string& error);

struct HostPort {
    std::string host;  // without IPv6 brackets
    std::uint16_t port = 0;
};
// "host:port" or "[v6]:port", port 1-65535.
std::optional<HostPort> parse_host_port(std::string_view text, std::string& error);

// Fills kind, target, host, port, path, user and database; the timing fields
// keep their defaults.
std::optional<HealthCheck> parse_healthcheck(std::string_view text, std::string& error);

// supervisord's KEY="val",KEY2=val2. Quoted values keep commas and spaces
// verbatim; unquoted ones are trimmed. Values are returned unexpanded.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_environment(std::string_view text,
                                                                                   std::string& error);

// "first,factor,cap", e.g. "1s,2,60s".
std::optional<Backoff> parse_backoff(std::string_view text, std::string& error);

// "N/min" or "N/s", as requests per minute.
std::optional<int> parse_rate_limit(std::string_view text, std::string& error);

}  // namespace vigil::config
