#include "config/values.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "config/command_line.hpp"
#include "config/units.hpp"

namespace vigil::config {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string quoted(std::string_view s) {
    if (s.size() > 80) return "'" + std::string(s.substr(0, 80)) + "…'";
    return "'" + std::string(s) + "'";
}

bool valid_host(std::string_view host) {
    if (host.empty()) return false;
    for (char c : host)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) return false;
    return true;
}

bool valid_v6(std::string_view host) {
    if (host.empty()) return false;
    for (char c : host)
        if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    return true;
}

bool valid_env_key(std::string_view key) {
    if (key.empty() || is_digit(key.front())) return false;
    for (char c : key)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    return true;
}

}  // namespace

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (is_space(text[i]) || text[i] == ',')) ++i;
        std::size_t start = i;
        while (i < text.size() && !is_space(text[i]) && text[i] != ',') ++i;
        if (i > start) out.emplace_back(text.substr(start, i - start));
    }
    return out;
}

bool valid_name(std::string_view name) {
    // Room for ".out.log" in a 255-byte file name.
    if (name.empty() || name.size() > 240 || name == "." || name == "..") return false;
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == ' ' || c == ':' || c == '/') return false;
    }
    return true;
}

std::optional<long long> parse_int(std::string_view text, long long min, long long max, std::string& error) {
    std::string_view t = trim(text);
    bool negative = !t.empty() && t.front() == '-';
    std::string_view digits = negative || (!t.empty() && t.front() == '+') ? t.substr(1) : t;
    bool ok = !digits.empty() && digits.size() <= 18;
    long long value = 0;
    for (char c : ok ? digits : std::string_view{}) {
        if (!is_digit(c)) {
            ok = false;
            break;
        }
        value = value * 10 + (c - '0');
    }
    if (negative) value = -value;
    if (!ok || value < min || value > max) {
        if (max == std::numeric_limits<int>::max() || max == std::numeric_limits<long long>::max())
            error = "expected an integer ≥ " + std::to_string(min) + ", got " + quoted(t);
        else
            error = "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                    quoted(t);
        return std::nullopt;
    }
    return value;
}

std::optional<double> parse_positive_double(std::string_view text, std::string& error) {
    std::string t(trim(text));
    char* end = nullptr;
    double v = t.empty() ? 0 : std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v) || v <= 0 || v > 4096) {
        error = "expected a number of cores > 0 such as 0.5 or 2, got " + quoted(t);
        return std::nullopt;
    }
    return v;
}

std::optional<unsigned> parse_umask(std::string_view text, std::string& error) {
    std::string_view t = trim(text);
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'o' || t[1] == 'O')) t.remove_prefix(2);
    unsigned v = 0;
    bool ok = !t.empty() && t.size() <= 4;
    for (char c : t) {
        if (c < '0' || c > '7') {
            ok = false;
            break;
        }
        v = v * 8 + static_cast<unsigned>(c - '0');
    }
    if (!ok || v > 0777) {
        error = "expected an octal umask such as 022, got " + quoted(trim(text));
        return std::nullopt;
    }
    return v;
}

std::optional<HostPort> parse_host_port(std::string_view text, std::string& error) {
    std::string_view t = trim(text);
    HostPort hp;
    std::string_view port;
    if (!t.empty() && t.front() == '[') {
        std::size_t close = t.find(']');
        if (close == std::string_view::npos || close + 1 >= t.size() || t[close + 1] != ':' ||
            !valid_v6(t.substr(1, close - 1))) {
            error = "expected host:port or [IPv6]:port, got " + quoted(t);
            return std::nullopt;
        }
        hp.host = std::string(t.substr(1, close - 1));
        port = t.substr(close + 2);
    } else {
        std::size_t colon = t.rfind(':');
        if (colon == std::string_view::npos) {
            error = "missing port in " + quoted(t) + " (expected host:port)";
            return std::nullopt;
        }
        if (!valid_host(t.substr(0, colon))) {
            error = "expected host:port, got " + quoted(t);
            return std::nullopt;
        }
        hp.host = std::string(t.substr(0, colon));
        port = t.substr(colon + 1);
    }
    std::string ignored;
    auto n = port.empty() ? std::nullopt : parse_int(port, 1, 65535, ignored);
    if (!n || port.front() == '+' || port.front() == '-') {
        error = port.empty() ? "missing port in " + quoted(t) + " (expected host:port)"
                             : "port must be from 1 to 65535 in " + quoted(t);
        return std::nullopt;
    }
    hp.port = static_cast<std::uint16_t>(*n);
    return hp;
}

std::optional<HealthCheck> parse_healthcheck(std::string_view text, std::string& error) {
    std::string_view t = trim(text);
    HealthCheck hc;
    if (t.substr(0, 5) == "exec:") {
        std::string_view cmd = trim(t.substr(5));
        if (cmd.empty()) {
            error = "exec: needs a command, e.g. exec:/usr/bin/check";
            return std::nullopt;
        }
        if (auto split = split_command(cmd); !split.error.empty()) {
            error = split.error;
            return std::nullopt;
        }
        hc.kind = HealthKind::exec;
        hc.target = std::string(cmd);
        return hc;
    }
    std::size_t sep = t.find("://");
    if (sep == std::string_view::npos) {
        error = "expected http://, https://, tcp://, postgres://, redis:// or exec:COMMAND, got " + quoted(t);
        return std::nullopt;
    }
    std::string_view scheme = t.substr(0, sep);
    if (scheme == "http") hc.kind = HealthKind::http;
    else if (scheme == "https") hc.kind = HealthKind::https;
    else if (scheme == "tcp") hc.kind = HealthKind::tcp;
    else if (scheme == "postgres" || scheme == "postgresql") hc.kind = HealthKind::postgres;
    else if (scheme == "redis") hc.kind = HealthKind::redis;
    else {
        error = "unknown healthcheck scheme " + quoted(scheme) +
                " (use http, https, tcp, postgres, redis or exec:COMMAND)";
        return std::nullopt;
    }
    hc.target = std::string(t);
    std::string_view rest = t.substr(sep + 3);
    std::size_t slash = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (std::size_t hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);

    if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        if (hc.kind != HealthKind::postgres) {
            error = "a user name is only meaningful in postgres:// health checks, got " + quoted(t);
            return std::nullopt;
        }
        if (userinfo.find(':') != std::string_view::npos) {
            error = "passwords are not accepted in healthcheck URLs (use ~/.pgpass or trust auth), got " +
                    quoted(t);
            return std::nullopt;
        }
        if (!valid_host(userinfo)) {
            error = "invalid user name in " + quoted(t);
            return std::nullopt;
        }
        hc.user = std::string(userinfo);
    }
    std::string hp_error;
    auto hp = parse_host_port(authority, hp_error);
    if (!hp) {
        bool has_port = !authority.empty() && authority.back() != ']' && authority.find(':') != std::string_view::npos;
        error = (has_port ? "expected host:port in " : "missing port in ") + quoted(t);
        return std::nullopt;
    }
    hc.host = hp->host;
    hc.port = hp->port;
    for (char c : path)
        if (is_space(c)) {
            error = "spaces are not allowed in a URL (write %20): " + quoted(t);
            return std::nullopt;
        }
    switch (hc.kind) {
        case HealthKind::http:
        case HealthKind::https:
            if (path.empty()) hc.path = "/";
            else if (path.front() == '?') hc.path = "/" + std::string(path);
            else hc.path = std::string(path);
            break;
        case HealthKind::postgres:
            if (!path.empty() && path.front() == '?') {
                error = "query parameters are not supported in postgres:// health checks: " + quoted(t);
                return std::nullopt;
            }
            hc.database = path.empty() ? std::string() : std::string(path.substr(1));
            if (hc.database.find_first_of("/?") != std::string::npos) {
                error = "expected postgres://user@host:port/database, got " + quoted(t);
                return std::nullopt;
            }
            hc.path.clear();
            break;
        default:
            if (!path.empty() && path != "/") {
                error = "a path is not meaningful in a " + std::string(scheme) + ":// health check: " + quoted(t);
                return std::nullopt;
            }
            hc.path.clear();
            break;
    }
    return hc;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_environment(std::string_view text,
                                                                                   std::string& error) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (is_space(text[i]) || text[i] == ',')) ++i;
        if (i >= text.size()) break;
        std::size_t eq = i;
        while (eq < text.size() && text[eq] != '=' && text[eq] != ',') ++eq;
        std::string_view key = trim(text.substr(i, eq - i));
        if (eq >= text.size() || text[eq] != '=') {
            error = "expected KEY=value, got " + quoted(key);
            return std::nullopt;
        }
        if (!valid_env_key(key)) {
            error = "invalid environment variable name " + quoted(key);
            return std::nullopt;
        }
        i = eq + 1;
        while (i < text.size() && is_space(text[i])) ++i;
        std::string value;
        if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
            char q = text[i];
            std::size_t close = text.find(q, i + 1);
            if (close == std::string_view::npos) {
                error = "unterminated quote in the value of " + std::string(key);
                return std::nullopt;
            }
            value = std::string(text.substr(i + 1, close - i - 1));
            i = close + 1;
            while (i < text.size() && is_space(text[i])) ++i;
            if (i < text.size() && text[i] != ',') {
                error = "expected ',' after the quoted value of " + std::string(key);
                return std::nullopt;
            }
        } else {
            std::size_t end = text.find(',', i);
            if (end == std::string_view::npos) end = text.size();
            value = std::string(trim(text.substr(i, end - i)));
            i = end;
        }
        for (const auto& [k, v] : out)
            if (k == key) {
                error = std::string(key) + " is set twice";
                return std::nullopt;
            }
        out.emplace_back(std::string(key), std::move(value));
    }
    return out;
}

std::optional<Backoff> parse_backoff(std::string_view text, std::string& error) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        std::size_t comma = text.find(',', start);
        parts.push_back(trim(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start)));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    const std::string usage = " (expected first,factor,cap such as 1s,2,60s)";
    if (parts.size() != 3) {
        error = "got " + quoted(trim(text)) + usage;
        return std::nullopt;
    }
    auto first = parse_duration(parts[0]);
    auto cap = parse_duration(parts[2]);
    std::string f(parts[1]);
    char* end = nullptr;
    double factor = f.empty() ? 0 : std::strtod(f.c_str(), &end);
    if (!first) {
        error = "first delay must be a duration, got " + quoted(parts[0]) + usage;
        return std::nullopt;
    }
    if (f.empty() || end != f.c_str() + f.size() || !std::isfinite(factor) || factor < 1 || factor > 100) {
        error = "factor must be a number from 1 to 100, got " + quoted(parts[1]) + usage;
        return std::nullopt;
    }
    if (!cap || *cap < *first) {
        error = "cap must be a duration ≥ the first delay, got " + quoted(parts[2]) + usage;
        return std::nullopt;
    }
    return Backoff{*first, factor, *cap};
}

std::optional<int> parse_rate_limit(std::string_view text, std::string& error) {
    std::string_view t = trim(text);
    std::size_t slash = t.find('/');
    std::string ignored;
    std::optional<long long> n;
    std::string_view unit;
    if (slash != std::string_view::npos) {
        n = parse_int(t.substr(0, slash), 1, 10'000'000, ignored);
        unit = trim(t.substr(slash + 1));
    }
    if (!n || (unit != "min" && unit != "s")) {
        error = "expected N/min or N/s with N ≥ 1, got " + quoted(t);
        return std::nullopt;
    }
    return static_cast<int>(unit == "s" ? *n * 60 : *n);
}

}  // namespace vigil::config
