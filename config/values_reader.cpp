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

namespace {

std::vector<Error> in_report_order(std::vector<Error>& list) {
    std::vector<Error> out;
    std::set<std::tuple<std::string, int, std::string>> seen;
    std::map<std::string, std::size_t> file_rank;  // files in the order they were first reported
    for (auto& e : list) {
        file_rank.emplace(e.loc.file, file_rank.size());
        if (seen.emplace(e.loc.file, e.loc.line, e.message).second) out.push_back(std::move(e));
    }
    list.clear();
    // Reported step by step, read top to bottom: by file, then line.
    std::stable_sort(out.begin(), out.end(), [&](const Error& a, const Error& b) {
        return std::make_pair(file_rank.at(a.loc.file), a.loc.line) <
               std::make_pair(file_rank.at(b.loc.file), b.loc.line);
    });
    return out;
}

}  // namespace

void Errors::add(SourceLoc loc, std::string message) {
    list_.push_back(Error{std::move(loc), std::move(message)});
}

void Errors::warn(SourceLoc loc, std::string message) {
    warnings_.push_back(Error{std::move(loc), std::move(message)});
}

void Errors::unknown(SourceLoc loc, std::string message) {
    if (lenient_) warn(std::move(loc), std::move(message));
    else add(std::move(loc), std::move(message));
}

std::vector<Error> Errors::take() { return in_report_order(list_); }

std::vector<Error> Errors::take_warnings() { return in_report_order(warnings_); }

Keys::Keys(const RawSection& section, std::span<const std::string_view> known,
           std::span<const std::string_view> repeatable, Errors& errors) {
    auto contains = [](std::span<const std::string_view> list, std::string_view key) {
        return std::find(list.begin(), list.end(), key) != list.end();
    };
    const std::string where = "[" + section.type + (section.name.empty() ? "" : ":" + section.name) + "]";
    for (const auto& e : section.entries) {
        SourceLoc at{e.file.empty() ? section.loc.file : e.file, e.line};
        if (!contains(known, e.key)) {
            errors.unknown(at, "unknown key '" + e.key + "' in " + where + (errors.lenient() ? "; ignored, as supervisord does" : ""));
            continue;
        }
        if (!contains(repeatable, e.key)) {
            auto first = std::find_if(accepted_.begin(), accepted_.end(),
                                      [&](const ini::Entry* a) { return a->key == e.key; });
            if (first != accepted_.end()) {
                const ini::Entry& before = **first;
                std::string was = before.file == e.file || before.file.empty() ? "line " + std::to_string(before.line)
                                                                               : before.file + ":" +
                                                                                     std::to_string(before.line);
                errors.warn(at, "'" + e.key + "' is set again in " + where + " (first at " + was +
                                    "): this value wins, as in supervisord");
                *first = &e;
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

void Values::warn(const ini::Entry& e, const std::string& message) {
    errors_.warn(loc(e), e.key + ": " + message);
}

void Values::lenient_error(const ini::Entry& e, const std::string& message) {
    errors_.unknown(loc(e), e.key + ": " + message);
}

std::optional<std::string> Values::expand_text(const ini::Entry& e, std::string_view raw) {
    std::string why;
    std::optional<std::string> out;
    // %(here)s is the directory of the file the key is in, which is not the
    // section's when an included file added the key to a merged section.
    if (!e.here.empty() && e.here != section_.here) {
        ExpandVars vars = vars_;
        vars.strings.insert_or_assign("here", e.here);
        out = expand(raw, vars, why);
    } else {
        out = expand(raw, vars_, why);
    }
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

// Continuation lines of `environment` are separate assignments, so they
// join with a comma (a trailing comma on the previous line is fine too),
// except inside a quoted value that goes on to the next line.
namespace {

std::string join_environment(const ini::Entry& e) {
    std::string out;
    char quote = 0;
    for (const auto& part : e.parts) {
        std::string_view p = trim(part);
        if (!out.empty()) {
            if (quote) out += ' ';
            else if (out.back() != ',' && !p.empty() && p.front() != ',') out += ',';
        }
        char prev = 0;  // a quote opens a value only right after '=', as parse_environment reads it
        for (char c : p) {
            if (!quote && (c == '"' || c == '\'') && prev == '=') quote = c;
            else if (quote && c == quote) quote = 0;
            if (c != ' ' && c != '\t') prev = c;
        }
        out += p;
    }
    return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> Values::environment(std::string_view key) {
    std::vector<std::pair<std::string, std::string>> out;
    const ini::Entry* e = entry(key);
    if (!e) return out;
    std::string why;
    auto pairs = parse_environment(join_environment(*e), why);
    if (!pairs) {
        error(*e, why);
        return out;
    }
    for (auto& [name, value] : *pairs) {
        auto t = expand_text(*e, value);
        if (!t) return {};
        out.emplace_back(name, std::move(*t));
    }
    return out;
}

ExpandVars base_vars(const RawSection& section, const LoadOptions& options) {
    ExpandVars vars;
    vars.strings.emplace("here", section.here);
    vars.strings.emplace("host_node_name", options.host_node_name);
    vars.env = &options.env;
    return vars;
}

}  // namespace vigil::config::detail
