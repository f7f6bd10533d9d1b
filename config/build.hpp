// Internals of the loader, shared by its steps:
//   sources.cpp   files and [include]s → RawSections (syntax, section names,
//                 repeated sections merged)
//   sections.cpp  [vigil], [group:*], [upstream:*], [proxy:*] → typed values
//   supervisord_section.cpp  [supervisord] → Daemon
//   dialect.cpp   what differs between a vigil and a supervisord config
//   program.cpp   [program:*] → one Program per process
//   eventlistener_section.cpp  [eventlistener:*] → pools and their processes
//   link.cpp      names that refer to other sections, cycles, start order
// Every step reports into one Errors and keeps going, so a single run shows
// every problem in the files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/expand.hpp"
#include "config/ini_reader.hpp"
#include "config/loader.hpp"
#include "config/model.hpp"

namespace vigil::config::detail {

struct RawSection {
    std::string type;  // vigil, supervisord, include, program, group, upstream, proxy
    std::string name;  // after the ':'; empty for [vigil]
    SourceLoc loc;     // the header line
    std::string here;  // directory of its file, for %(here)s
    std::vector<ini::Entry> entries;
    bool damaged = false;  // some of its lines were refused
};

// Errors refuse the config; warnings are reported and the config loads.
class Errors {
public:
    void add(SourceLoc loc, std::string message);
    void warn(SourceLoc loc, std::string message);
    // What supervisord ignores (unknown keys and sections): an error in a
    // vigil config, a warning in a supervisord config (set_lenient(true)).
    void unknown(SourceLoc loc, std::string message);
    void set_lenient(bool lenient) { lenient_ = lenient; }
    bool lenient() const { return lenient_; }
    std::size_t size() const { return list_.size(); }
    // In report order, without repeats (a numprocs program would otherwise
    // report a bad value once per process).
    std::vector<Error> take();
    std::vector<Error> take_warnings();

private:
    std::vector<Error> list_;
    std::vector<Error> warnings_;
    bool lenient_ = false;
};

// A section's keys after unknown keys have been reported. A key set twice
// (in one file, or in two files whose sections merged) keeps its last value,
// as in supervisord, with a warning; `repeatable` keys keep every value.
class Keys {
public:
    Keys(const RawSection& section, std::span<const std::string_view> known,
         std::span<const std::string_view> repeatable, Errors& errors);
    const ini::Entry* find(std::string_view key) const;
    std::vector<const ini::Entry*> all(std::string_view key) const;

private:
    std::vector<const ini::Entry*> accepted_;
};

// Expanded, typed values of one section. A getter leaves `out` untouched
// when the key is absent, and also when the value is bad, after reporting
// "key: why" at the key's line.
class Values {
public:
    Values(const RawSection& section, const Keys& keys, const ExpandVars& vars, Errors& errors)
        : section_(section), keys_(keys), vars_(vars), errors_(errors) {}

    bool has(std::string_view key) const { return keys_.find(key) != nullptr; }
    const ini::Entry* entry(std::string_view key) const { return keys_.find(key); }
    SourceLoc loc(const ini::Entry& e) const { return SourceLoc{e.file.empty() ? section_.loc.file : e.file, e.line}; }
    SourceLoc loc() const { return section_.loc; }
    const ExpandVars& vars() const { return vars_; }

    void error(const ini::Entry& e, const std::string& message);
    void warn(const ini::Entry& e, const std::string& message);
    // What supervisord accepts with a warning: the same in a supervisord
    // config, an error in a vigil config.
    void lenient_error(const ini::Entry& e, const std::string& message);
    void section_error(std::string message) { errors_.add(section_.loc, std::move(message)); }
    // A required key is absent. Not reported when a refused line of the
    // section may have held it: that line's error says enough.
    void missing(std::string message) {
        if (!section_.damaged) section_error(std::move(message));
    }

    // Continuation lines joined with `separator`, then expanded.
    std::optional<std::string> text(const ini::Entry& e, std::string_view separator = " ");
    std::optional<std::string> text(std::string_view key);
    std::optional<std::string> expand_text(const ini::Entry& e, std::string_view raw);

    void string(std::string_view key, std::string& out);
    // supervisord's KEY="value",KEY2=value2 (lines joined by join_environment),
    // each value expanded after splitting, so a %(ENV_X)s holding a comma
    // stays one value. Empty when absent or bad (then reported).
    std::vector<std::pair<std::string, std::string>> environment(std::string_view key);
    void boolean(std::string_view key, bool& out);
    void integer(std::string_view key, int& out, long long min, long long max);
    void duration(std::string_view key, Duration& out, Duration min);
    void size(std::string_view key, std::uint64_t& out, std::uint64_t min);

    // `parse(text, error)` returns optional<T>.
    template <class T, class Parse>
    bool parsed(std::string_view key, T& out, Parse parse) {
        const ini::Entry* e = entry(key);
        if (!e) return false;
        auto t = text(*e);
        if (!t) return false;
        std::string why;
        auto v = parse(*t, why);
        if (!v) {
            error(*e, why);
            return false;
        }
        out = std::move(*v);
        return true;
    }

private:
    const RawSection& section_;
    const Keys& keys_;
    const ExpandVars& vars_;
    Errors& errors_;
};

// Lines of values that link() resolves but the model keeps no line for.
struct Where {
    std::map<std::string, SourceLoc> group_programs;             // by group name
    std::map<std::string, SourceLoc> upstream_servers;           // by upstream name
    std::map<std::string, std::vector<SourceLoc>> proxy_routes;  // by proxy, parallel to Proxy::routes
    std::map<std::string, SourceLoc> upstream_role;              // by upstream name, when role is set
};

// %(here)s, %(host_node_name)s and %(ENV_X)s: what every section may use.
ExpandVars base_vars(const RawSection& section, const LoadOptions& options);

struct Sources {
    std::string main_file;  // absolute
    std::vector<RawSection> sections;  // in reading order, [include] already followed
    // Has [supervisord] and no [vigil]: supervisord's defaults apply and
    // what supervisord ignores is a warning (dialect.cpp).
    bool supervisord = false;
};

// A whole config file; refuses directories, devices and huge files.
std::optional<std::string> read_config_file(const std::filesystem::path& path, std::string& error);

// `display` names the main file in errors; `absolute` is its location (the
// base of relative includes and of %(here)s).
Sources read_sources(std::string_view text, const std::string& display, const std::string& absolute,
                     const LoadOptions& options, Errors& errors);

// [vigil] into `d`.
void build_daemon(const std::vector<RawSection>& sections, const LoadOptions& options, Errors& errors, Daemon& d);
// [supervisord] into `daemon`, over the defaults set_dialect_defaults() put there.
void build_supervisord(const std::vector<RawSection>& sections, const LoadOptions& options, Errors& errors,
                       Daemon& daemon);
// [unix_http_server], [inet_http_server], [supervisorctl], [rpcinterface:*] into daemon.http (and the socket path).
void build_http_servers(const std::vector<RawSection>& sections, const LoadOptions& options, Errors& errors,
                        Daemon& daemon);
std::vector<Group> build_groups(const std::vector<RawSection>& sections, const LoadOptions& options,
                                Errors& errors, Where& where);
std::vector<Upstream> build_upstreams(const std::vector<RawSection>& sections, const LoadOptions& options,
                                      Errors& errors, Where& where);
std::vector<Proxy> build_proxies(const std::vector<RawSection>& sections, const LoadOptions& options,
                                 Errors& errors, Where& where);
// Program::depends_on and Upstream::servers still hold the names as written
// until link() resolves them. Also refuses duplicate process names and
// addresses, which need the lines only this step knows.
// dialect.cpp: is it a supervisord config, and the defaults of each dialect.
bool is_supervisord_config(const std::vector<RawSection>& sections);
Daemon daemon_defaults(bool supervisord, const LoadOptions& options);
// With [supervisord]'s user and directory as the programs' defaults.
Program program_defaults(bool supervisord, const Daemon& daemon);

// Each Program starts from `defaults` (program_defaults()).
std::vector<Program> build_programs(const std::vector<RawSection>& sections, const Daemon& daemon,
                                    const Program& defaults, const std::vector<Group>& groups,
                                    const Where& where, const LoadOptions& options, Errors& errors);

// [eventlistener:*] (eventlistener_section.cpp): the pools, and their
// listener processes appended to `programs` (before link() orders them).
std::vector<EventListenerPool> build_event_listeners(const std::vector<RawSection>& sections, const Daemon& daemon,
                                                     const Program& defaults, const std::vector<Group>& groups,
                                                     const LoadOptions& options, Errors& errors,
                                                     std::vector<Program>& programs);

// Cross-section checks, name resolution, and the start order of programs.
void link(Config& config, const Where& where, Errors& errors);
// Part of link(), once upstream servers are resolved to process names
// (routing_checks.cpp): role pools hold data stores, TCP listeners route to
// them and HTTP listeners do not.
void check_routing(const Config& config, const Where& where, Errors& errors);

}  // namespace vigil::config::detail
