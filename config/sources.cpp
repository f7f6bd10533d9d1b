// Files → RawSections: parses each file, names its sections, merges a
// section written twice (in one file or in several, as supervisord does:
// Zulip's configs rely on it), sets unknown ones aside, and follows [include]
// (globs relative to the including file, loops refused, a file reached twice
// read once).
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "config/build.hpp"
#include "config/values.hpp"

namespace vigil::config::detail {
namespace fs = std::filesystem;

namespace {

// A config file is text a person wrote; anything bigger is a mistake (or
// /dev/zero), not a config.
constexpr std::uintmax_t kMaxFileSize = 16u << 20;

struct SectionType {
    std::string_view type;
    bool named;
};
constexpr SectionType kSectionTypes[] = {
    {"vigil", false}, {"supervisord", false}, {"include", false},     {"program", true},
    {"group", true},  {"upstream", true},     {"proxy", true},        {"fcgi-program", true},
    // supervisord's listeners and client (http_server_sections.cpp)
    {"unix_http_server", false}, {"inet_http_server", false}, {"supervisorctl", false}, {"rpcinterface", true},
    {"ctlplugin", true}, {"eventlistener", true},
};

std::string supervisord_hint(std::string_view type) {
    return " (expected [vigil], [supervisord], [program:NAME], [fcgi-program:NAME], [group:NAME], [include], "
           "[eventlistener:NAME], [upstream:NAME] or [proxy:NAME])";
}

bool has_glob_chars(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

class SourceReader {
public:
    SourceReader(const LoadOptions& options, Errors& errors, Sources& out)
        : options_(options), errors_(errors), out_(out) {}

    void read(std::string_view text, const std::string& display, const fs::path& absolute,
              const std::string& canonical) {
        stack_.push_back({canonical, display});
        loaded_.insert(canonical);
        ini::Document doc = ini::parse(text, display);
        for (auto& e : doc.errors) errors_.add(std::move(e.loc), std::move(e.message));
        for (auto& w : doc.warnings) errors_.warn(std::move(w.loc), std::move(w.message));

        const std::string here = absolute.parent_path().string();
        std::vector<std::size_t> includes;
        for (auto& section : doc.sections) {
            RawSection raw;
            std::string identity;
            if (!name_section(section, display, canonical, raw, identity)) continue;
            for (auto& e : section.entries) e.here = here;
            auto [it, fresh] = index_.emplace(identity, out_.sections.size());
            if (!fresh) {
                // Later keys are appended: Keys takes the last value of a key.
                RawSection& first = out_.sections[it->second];
                for (auto& e : section.entries) first.entries.push_back(std::move(e));
                first.damaged = first.damaged || section.damaged;
                continue;
            }
            raw.here = here;
            raw.entries = std::move(section.entries);
            raw.damaged = section.damaged;
            if (raw.type == "include") includes.push_back(out_.sections.size());
            out_.sections.push_back(std::move(raw));
        }
        // Read after the whole file so that its own sections come first: a
        // section an included file repeats merges into the including file's.
        for (std::size_t index : includes) follow(index);
        stack_.pop_back();
    }

    // Sections supervisord would ignore, reported once the dialect is known.
    std::vector<Error> unknown_sections;

private:
    struct Open {
        std::string canonical, display;
    };

    bool name_section(const ini::Section& section, const std::string& file, const std::string& canonical,
                      RawSection& raw, std::string& identity) {
        SourceLoc at{file, section.line};
        std::string_view header = section.header;
        std::size_t colon = header.find(':');
        std::string type(trim(header.substr(0, colon)));
        std::string name = colon == std::string_view::npos ? std::string() : std::string(trim(header.substr(colon + 1)));
        const SectionType* known = nullptr;
        for (const auto& t : kSectionTypes)
            if (t.type == type) known = &t;
        // configparser gives [DEFAULT]'s keys to every section; ignoring it
        // would silently change every program.
        if (header == "DEFAULT") {
            errors_.add(at, "[DEFAULT] (keys for every section) is not supported by vigil: write its keys in the "
                            "sections that need them");
            return false;
        }
        if (!known) {
            unknown_sections.push_back(
                Error{at, "unknown section [" + std::string(header) + "]" + supervisord_hint(type)});
            return false;
        }
        if (known->named && colon == std::string_view::npos) {
            errors_.add(at, "[" + type + "] needs a name: [" + type + ":NAME]");
            return false;
        }
        if (!known->named && colon != std::string_view::npos) {
            errors_.add(at, "[" + type + "] takes no name, got [" + std::string(header) + "]");
            return false;
        }
        if (known->named && !valid_name(name)) {
            errors_.add(at, "invalid " + type + " name '" + name + "' (" + std::string(kValidNameHint) + ")");
            return false;
        }
        // [include] belongs to its file; every other section is global.
        identity = type == "include" ? "include@" + canonical : type + ":" + name;
        raw.type = std::move(type);
        raw.name = std::move(name);
        raw.loc = at;
        return true;
    }

    void follow(std::size_t index) {
        // Copy: reading includes appends to out_.sections.
        const RawSection inc = out_.sections[index];
        static constexpr std::string_view kKnown[] = {"files"};
        Keys keys(inc, kKnown, {}, errors_);
        ExpandVars vars = base_vars(inc, options_);
        Values values(inc, keys, vars, errors_);
        if (!options_.follow_includes) {
            values.section_error("[include] is disabled for this load");
            return;
        }
        const ini::Entry* files = keys.find("files");
        if (!files) {
            values.missing("[include] needs files = PATTERN... (space separated globs)");
            return;
        }
        auto text = values.text(*files);
        if (!text) return;
        SourceLoc at = values.loc(*files);
        auto patterns = split_spaces(*text);
        if (patterns.empty()) values.error(*files, "no file pattern given");
        for (const auto& pattern : patterns) {
            fs::path p(pattern);
            if (p.is_relative()) p = fs::path(inc.here) / p;
            std::string path = p.lexically_normal().string();
            if (!has_glob_chars(pattern)) {
                include_file(path, at, /*must_exist=*/true);
                continue;
            }
            glob_t g{};
            int rc = ::glob(path.c_str(), GLOB_NOSORT, nullptr, &g);
            std::vector<std::string> matches;
            if (rc == 0)
                for (std::size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
            ::globfree(&g);
            if (rc != 0 && rc != GLOB_NOMATCH) {
                errors_.add(at, "files: cannot expand '" + pattern + "'");
                continue;
            }
            // Like supervisord, a pattern matching nothing is fine.
            std::sort(matches.begin(), matches.end());
            for (const auto& m : matches) include_file(m, at, false);
        }
    }

    static std::vector<std::string> split_spaces(std::string_view text) {
        std::vector<std::string> out;
        std::size_t i = 0;
        while (i < text.size()) {
            while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
            std::size_t start = i;
            while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
            if (i > start) out.emplace_back(text.substr(start, i - start));
        }
        return out;
    }

    void include_file(const std::string& path, const SourceLoc& at, bool must_exist) {
        std::error_code ec;
        fs::path canon = fs::canonical(path, ec);
        if (ec) {
            if (must_exist && !fs::exists(fs::symlink_status(path, ec)))
                errors_.add(at, "files: included file not found: '" + path + "'");
            else
                errors_.add(at, "files: cannot read included file '" + path + "': " + ec.message());
            return;
        }
        std::string key = canon.string();
        for (std::size_t i = 0; i < stack_.size(); ++i) {
            if (stack_[i].canonical != key) continue;
            std::string chain;
            for (std::size_t j = i; j < stack_.size(); ++j) chain += stack_[j].display + " -> ";
            errors_.add(at, "include loop: " + chain + path);
            return;
        }
        if (loaded_.count(key)) return;  // reached twice through different globs: one copy
        std::string why;
        auto text = read_config_file(canon, why);
        if (!text) {
            errors_.add(at, "files: cannot read included file '" + path + "': " + why);
            return;
        }
        read(*text, path, canon, key);
    }

    const LoadOptions& options_;
    Errors& errors_;
    Sources& out_;
    std::vector<Open> stack_;
    std::set<std::string> loaded_;
    std::map<std::string, std::size_t> index_;  // section identity → index in out_.sections
};

}  // namespace

std::optional<std::string> read_config_file(const fs::path& path, std::string& error) {
    std::error_code ec;
    auto st = fs::status(path, ec);
    if (ec) {
        error = ec.message();
        return std::nullopt;
    }
    if (fs::is_directory(st)) {
        error = "is a directory";
        return std::nullopt;
    }
    if (!fs::is_regular_file(st)) {
        error = "not a regular file";
        return std::nullopt;
    }
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    std::string out;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        out.append(buf, n);
        if (out.size() > kMaxFileSize) {
            std::fclose(f);
            error = "larger than " + std::to_string(kMaxFileSize >> 20) + " MiB";
            return std::nullopt;
        }
    }
    bool failed = std::ferror(f) != 0;
    int saved = errno;
    std::fclose(f);
    if (failed) {
        error = std::strerror(saved);
        return std::nullopt;
    }
    return out;
}

Sources read_sources(std::string_view text, const std::string& display, const std::string& absolute,
                     const LoadOptions& options, Errors& errors) {
    Sources out;
    out.main_file = absolute;
    std::error_code ec;
    fs::path canon = fs::weakly_canonical(absolute, ec);
    if (ec) canon = fs::path(absolute).lexically_normal();
    SourceReader reader(options, errors, out);
    reader.read(text, display, fs::path(absolute), canon.string());
    out.supervisord = is_supervisord_config(out.sections);
    errors.set_lenient(out.supervisord);
    for (auto& e : reader.unknown_sections)
        errors.unknown(std::move(e.loc), std::move(e.message) + (out.supervisord ? "; ignored" : ""));
    return out;
}

}  // namespace vigil::config::detail
