#include "config/units.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <limits>
#include <string>

namespace vigil::config {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Nothing a supervisor waits for is longer than a year; the cap keeps every
// arithmetic below far from overflow.
constexpr double kMaxDurationMs = 366.0 * 24 * 3600 * 1000;

struct SignalEntry {
    std::string_view name;
    int number;
};

constexpr SignalEntry kSignals[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},         {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},   {"ABRT", SIGABRT},       {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL},   {"USR1", SIGUSR1},       {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},       {"TERM", SIGTERM}, {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},   {"STOP", SIGSTOP},       {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},   {"URG", SIGURG},         {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},     {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},     {"SYS", SIGSYS},
};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
    text = trim(text);
    if (text.empty()) return std::nullopt;

    // Units must come largest first and at most once ("1h30m", not "30m1h"),
    // which catches typos such as "1s1m" instead of guessing.
    enum Rank { none = 0, ms = 1, s = 2, m = 3, h = 4 };
    int last_rank = 5;
    double total = 0;
    std::size_t i = 0;
    bool bare = false;
    while (i < text.size()) {
        if (bare) return std::nullopt;  // a bare number must be the whole text
        std::size_t start = i;
        while (i < text.size() && is_digit(text[i])) ++i;
        std::size_t int_digits = i - start;
        std::size_t frac_digits = 0;
        if (i < text.size() && text[i] == '.') {
            ++i;
            std::size_t fstart = i;
            while (i < text.size() && is_digit(text[i])) ++i;
            frac_digits = i - fstart;
        }
        if (int_digits == 0 && frac_digits == 0) return std::nullopt;
        if (int_digits > 12) return std::nullopt;
        double number = 0;
        double scale = 1;
        bool in_frac = false;
        for (std::size_t k = start; k < i; ++k) {
            if (text[k] == '.') {
                in_frac = true;
                continue;
            }
            if (in_frac) {
                scale /= 10;
                number += (text[k] - '0') * scale;
            } else {
                number = number * 10 + (text[k] - '0');
            }
        }
        std::size_t ustart = i;
        while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
        std::string_view unit = text.substr(ustart, i - ustart);
        int rank;
        double factor;
        if (unit.empty()) {
            if (start != 0) return std::nullopt;  // "1m30" is ambiguous
            rank = none;
            factor = 1000;  // supervisord: startsecs = 10
            bare = true;
        } else if (unit == "ms") {
            rank = ms, factor = 1;
        } else if (unit == "s") {
            rank = s, factor = 1000;
        } else if (unit == "m") {
            rank = m, factor = 60'000;
        } else if (unit == "h") {
            rank = h, factor = 3'600'000;
        } else {
            return std::nullopt;
        }
        if (!bare && rank >= last_rank) return std::nullopt;
        last_rank = rank;
        total += number * factor;
        if (total > kMaxDurationMs) return std::nullopt;
    }
    return Duration{static_cast<Duration::rep>(total + 0.5)};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    text = trim(text);
    std::size_t i = 0;
    std::uint64_t number = 0;
    while (i < text.size() && is_digit(text[i])) {
        if (number > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) return std::nullopt;
        number = number * 10 + static_cast<std::uint64_t>(text[i] - '0');
        ++i;
    }
    if (i == 0) return std::nullopt;
    std::string_view unit = trim(text.substr(i));
    std::uint64_t factor;
    if (unit.empty() || iequals(unit, "b")) {
        factor = 1;
    } else if (iequals(unit, "k") || iequals(unit, "kb")) {
        factor = 1ull << 10;
    } else if (iequals(unit, "m") || iequals(unit, "mb")) {
        factor = 1ull << 20;
    } else if (iequals(unit, "g") || iequals(unit, "gb")) {
        factor = 1ull << 30;
    } else {
        return std::nullopt;
    }
    if (number > std::numeric_limits<std::uint64_t>::max() / factor) return std::nullopt;
    return number * factor;
}

std::optional<bool> parse_bool(std::string_view text) {
    text = trim(text);
    for (auto t : {"true", "yes", "on", "1"})
        if (iequals(text, t)) return true;
    for (auto f : {"false", "no", "off", "0"})
        if (iequals(text, f)) return false;
    return std::nullopt;
}

std::optional<int> parse_signal(std::string_view text) {
    text = trim(text);
    if (text.empty()) return std::nullopt;
    if (std::all_of(text.begin(), text.end(), is_digit)) {
        if (text.size() > 3) return std::nullopt;
        int n = 0;
        for (char c : text) n = n * 10 + (c - '0');
        if (n < 1 || n > SIGRTMAX) return std::nullopt;
        return n;
    }
    std::string_view name = text;
    if (name.size() > 3 && iequals(name.substr(0, 3), "SIG")) name.remove_prefix(3);
    for (const auto& s : kSignals)
        if (iequals(name, s.name)) return s.number;
    return std::nullopt;
}

std::string_view signal_name(int sig) {
    for (const auto& s : kSignals)
        if (s.number == sig) return s.name;
    return {};
}

}  // namespace vigil::config
