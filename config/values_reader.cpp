// Errors, Keys and Values from build.hpp: the plumbing every section builder
// uses to report at the right line and to turn text into typed values.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "config/build.hpp"
#include "config/units.hpp"
#include "config/values.hpp"

namespace vigil::config::detail {

void Errors::add(SourceLoc loc, std::string message) {
    list_.push_back(Error{std::move(loc), std::move(message)});
}

std::vector<Error> Errors::take() {
    std::vector<Error> out;
    std::set<std::tuple<std::string, int, std::string>> seen;
    std::map<std::string, std::size_t> file_rank;  // files in the order they were first reported
    for (auto& e : list_) {
        file_rank.emplace(e.loc.file, file_rank.size());
        if (seen.emplace(e.loc.file, e.loc.line, e.message).second) out.push_back(std::move(e));
    }
    list_.clear();
    // Reported step by step, read top to bottom: by file, then line.
    std::stable_sort(out.begin(), out.end(), [&](const Error& a, const Error& b) {
        return std::make_pair(file_rank.at(a.loc.file), a.loc.line) <
               std::make_pair(file_rank.at(b.loc.file), b.loc.line);
    });
    return out;
}

Keys::Keys(const RawSection& section, std::span<const std::string_view> known,
           std::span<const std::string_view> repeatable, Errors& errors) {
    auto contains = [](std::span<const std::string_view> list, std::string_view key) {
        return std::find(list.begin(), list.end(), key) != list.end();
    };
    for (const auto& e : section.entries) {
        SourceLoc at{section.loc.file, e.line};
        if (!contains(known, e.key)) {
            std::string lower = e.key;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            std::string hint;
            if (lower != e.key && contains(known, lower)) hint = " (keys are lowercase: '" + lower + "')";
            errors.add(at, "unknown key '" + e.key + "' in [" + section.type +
                               (section.name.empty() ? "" : ":" + section.name) + "]" + hint);
            continue;
        }
        if (!contains(repeatable, e.key)) {
            if (const ini::Entry* first = find(e.key)) {
                errors.add(at, "duplicate key '" + e.key + "' (first set at line " + std::to_string(first->line) +
                                   ")");
                continue;
            }
        }
        accepted_.push_back(&e);
    }
}

const ini::Entry* Keys::find(std::string_view key) const {
    for (const auto* e : accepted_)
        if (e->key == key) return e;
    return nullptr;
}

std::vector<const ini::Entry*> Keys::all(std::string_view key) const {
    std::vector<const ini::Entry*> out;
    for (const auto* e : accepted_)
        if (e->key == key) out.push_back(e);
    return out;
}

void Values::error(const ini::Entry& e, const std::string& message) {
    errors_.add(loc(e), e.key + ": " + message);
}

std::optional<std::string> Values::expand_text(const ini::Entry& e, std::string_view raw) {
    std::string why;
    auto out = expand(raw, vars_, why);
    if (!out) error(e, why);
    return out;
}

std::optional<std::string> Values::text(const ini::Entry& e, std::string_view separator) {
    return expand_text(e, e.joined(separator));
}

std::optional<std::string> Values::text(std::string_view key) {
    const ini::Entry* e = entry(key);
    if (!e) return std::nullopt;
    return text(*e);
}

void Values::string(std::string_view key, std::string& out) {
    if (auto t = text(key)) out = std::move(*t);
}

void Values::boolean(std::string_view key, bool& out) {
    parsed(key, out, [](const std::string& t, std::string& why) {
        auto v = parse_bool(t);
        if (!v) why = "expected true or false, got '" + t + "'";
        return v;
    });
}

void Values::integer(std::string_view key, int& out, long long min, long long max) {
    parsed(key, out, [&](const std::string& t, std::string& why) -> std::optional<int> {
        auto v = parse_int(t, min, max, why);
        if (!v) return std::nullopt;
        return static_cast<int>(*v);
    });
}

void Values::duration(std::string_view key, Duration& out, Duration min) {
    parsed(key, out, [&](const std::string& t, std::string& why) -> std::optional<Duration> {
        auto v = parse_duration(t);
        if (!v) {
            why = "expected a duration such as 10s, 500ms, 1m30s or 2h (a bare number is seconds), got '" + t +
                  "'";
            return std::nullopt;
        }
        if (*v < min) {
            why = min.count() == 1 ? "must be greater than 0, got '" + t + "'"
                                   : "must be at least " + std::to_string(min.count()) + "ms, got '" + t + "'";
            return std::nullopt;
        }
        return v;
    });
}

void Values::size(std::string_view key, std::uint64_t& out, std::uint64_t min) {
    parsed(key, out, [&](const std::string& t, std::string& why) -> std::optional<std::uint64_t> {
        auto v = parse_size(t);
        if (!v) {
            why = "expected a size such as 512M, 50MB, 1G or a number of bytes, got '" + t + "'";
            return std::nullopt;
        }
        if (*v < min) {
            why = "must be at least " + std::to_string(min) + " bytes, got '" + t + "'";
            return std::nullopt;
        }
        return v;
    });
}

ExpandVars base_vars(const RawSection& section, const LoadOptions& options) {
    ExpandVars vars;
    vars.strings.emplace("here", section.here);
    vars.strings.emplace("host_node_name", options.host_node_name);
    vars.env = &options.env;
    return vars;
}

}  // namespace vigil::config::detail
