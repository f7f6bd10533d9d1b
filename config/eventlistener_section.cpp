// [eventlistener:NAME] → an EventListenerPool and its listener processes.
// A listener is a program in every other respect (command, numprocs,
// autorestart, user, environment, stderr_logfile …), so its section is read
// by build_programs() as if it were a [program:NAME] without the pool's own
// keys; what differs is checked here (supervisord's rules: events required,
// buffer_size ≥ 1, no redirect_stderr, priority -1 by default).
#include <algorithm>
#include <map>
#include <set>

#include "config/build.hpp"
#include "config/event_types.hpp"
#include "config/units.hpp"
#include "config/values.hpp"

namespace vigil::config::detail {
namespace {

constexpr std::string_view kPoolKeys[] = {"events", "buffer_size", "result_handler", "ready_timeout"};
// supervisord's only built-in handler: "OK" accepts, anything else rejects
// (the event is buffered again). vigil runs no Python, so no other.
constexpr std::string_view kDefaultHandler = "supervisor.dispatchers:default_handler";

bool is_pool_key(std::string_view key) {
    return std::find(std::begin(kPoolKeys), std::end(kPoolKeys), key) != std::end(kPoolKeys);
}

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return s;
}

bool iequal_none(const std::string& v) { return upper(v) == "NONE"; }

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
}

class PoolReader {
public:
    PoolReader(const RawSection& s, const LoadOptions& options, Errors& errors)
        : s_(pool_only(s)), keys_(s_, kPoolKeys, {}, errors), vars_(base_vars(s_, options)),
          v_(s_, keys_, vars_, errors) {}

    EventListenerPool read() {
        EventListenerPool pool;
        pool.name = s_.name;
        pool.loc = s_.loc;
        events(pool);
        v_.integer("buffer_size", pool.buffer_size, 1, 1000000);
        v_.duration("ready_timeout", pool.ready_timeout, Duration{0});
        if (const ini::Entry* e = v_.entry("result_handler")) {
            if (auto t = v_.text(*e); t && trim(*t) != kDefaultHandler)
                v_.error(*e, "vigil runs only supervisord's default handler (" + std::string(kDefaultHandler) +
                                 "), not '" + *t + "'");
        }
        return pool;
    }

private:
    // Keys() reports unknown keys; the program keys are build_programs()'s.
    static RawSection pool_only(const RawSection& s) {
        RawSection out = s;
        std::erase_if(out.entries, [](const ini::Entry& e) { return !is_pool_key(e.key); });
        return out;
    }

    void events(EventListenerPool& pool) {
        const ini::Entry* e = v_.entry("events");
        if (!e) {
            v_.missing("[eventlistener:" + s_.name + "] needs events = TYPE,... (e.g. PROCESS_STATE)");
            return;
        }
        auto t = v_.text(*e);
        if (!t) return;
        for (const auto& item : split_list(*t)) {
            std::string name = upper(item);
            if (!is_event_type(name)) {
                v_.error(*e, "unknown event type '" + item + "' (known: " + event_type_names() + ")");
                continue;
            }
            if (std::find(pool.events.begin(), pool.events.end(), name) == pool.events.end())
                pool.events.push_back(std::move(name));
        }
        if (pool.events.empty() && split_list(*t).empty()) v_.error(*e, "lists no event type");
    }

    const RawSection s_;  // Keys and Values point into it
    Keys keys_;
    ExpandVars vars_;
    Values v_;
};

// The section as build_programs() reads it: without the pool's keys, with
// supervisord's listener priority unless one is written.
RawSection as_program(const RawSection& s) {
    RawSection out = s;
    out.type = "program";
    std::erase_if(out.entries, [](const ini::Entry& e) { return is_pool_key(e.key); });
    const bool has_priority =
        std::any_of(out.entries.begin(), out.entries.end(), [](const ini::Entry& e) { return e.key == "priority"; });
    if (!has_priority) out.entries.push_back(ini::Entry{"priority", {"-1"}, s.loc.line});
    return out;
}

// A listener's stdout is the protocol channel, read by vigild and never
// logged, so what these keys ask for does not happen (supervisord writes
// the READY/RESULT chatter to stdout_logfile): a warning when the value
// asks for something.
void listener_stdout_keys(const RawSection& program_section, const RawSection& s, Errors& errors) {
    std::map<std::string, const ini::Entry*> last;  // a key set twice: the last wins
    for (const auto& e : program_section.entries) last[e.key] = &e;
    for (const auto& [key, e] : last) {
        const std::string value(trim(e->joined(" ")));
        bool asks = false;
        if (key == "stdout_logfile") asks = !iequal_none(value);
        else if (key == "stdout_syslog" || key == "stdout_events_enabled") asks = parse_bool(value).value_or(false);
        else if (key == "stdout_capture_maxbytes") asks = parse_size(value).value_or(1) != 0;
        if (asks)
            errors.warn(SourceLoc{s.loc.file, e->line},
                        key + ": has no effect in [eventlistener:" + s.name +
                            "]: a listener's stdout is the protocol channel, read by vigild and never logged");
    }
}

}  // namespace

std::vector<EventListenerPool> build_event_listeners(const std::vector<RawSection>& sections, const Daemon& daemon,
                                                     const Program& defaults, const std::vector<Group>& groups,
                                                     const LoadOptions& options, Errors& errors,
                                                     std::vector<Program>& programs) {
    std::set<std::string> taken;  // names a pool may not share: groups and program sections
    for (const auto& g : groups) taken.insert(g.name);
    for (const auto& p : programs) taken.insert(p.program);
    std::set<std::string> process_names;
    for (const auto& p : programs) process_names.insert(p.name);

    std::vector<EventListenerPool> out;
    for (const auto& s : sections) {
        if (s.type != "eventlistener") continue;
        EventListenerPool pool = PoolReader(s, options, errors).read();
        if (taken.count(s.name)) {
            errors.add(s.loc, "[eventlistener:" + s.name + "] has the name of a program or group (a pool is a group)");
            continue;
        }

        const RawSection program_section = as_program(s);
        bool listener_errors = false;
        for (const auto& e : program_section.entries) {
            if (e.key == "redirect_stderr" && parse_bool(e.joined(" ")).value_or(false)) {
                errors.add(SourceLoc{s.loc.file, e.line},
                           "redirect_stderr: not allowed in [eventlistener:" + s.name +
                               "]: stderr in stdout would break the listener protocol");
                listener_errors = true;
            }
        }
        listener_stdout_keys(program_section, s, errors);
        if (std::none_of(program_section.entries.begin(), program_section.entries.end(),
                         [](const ini::Entry& e) { return e.key == "command"; })) {
            if (!s.damaged) errors.add(s.loc, "[eventlistener:" + s.name + "] needs command = ...");
            continue;
        }
        // Errors name the section as the user wrote it.
        Errors local;
        std::vector<Program> made = build_programs({program_section}, daemon, defaults, {}, Where{}, options, local);
        for (auto& e : local.take()) {
            replace_all(e.message, "[program:" + s.name + "]", "[eventlistener:" + s.name + "]");
            errors.add(std::move(e.loc), std::move(e.message));
            listener_errors = true;
        }
        if (listener_errors) continue;
        if (!made.empty()) pool.priority = made.front().priority;
        for (auto& p : made) {
            if (!process_names.insert(p.name).second) {
                errors.add(s.loc, "duplicate process name '" + p.name + "' (made by [eventlistener:" + s.name +
                                      "] and another section)");
                continue;
            }
            p.listener_pool = s.name;
            p.redirect_stderr = false;
            // stdout is the protocol channel: it is read, never logged.
            p.stdout_log.path.clear();
            pool.processes.push_back(p.name);
            programs.push_back(std::move(p));
        }
        out.push_back(std::move(pool));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

}  // namespace vigil::config::detail
