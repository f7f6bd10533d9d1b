// The control API between vigild (control_api.cpp, wait_api.cpp,
// rolling_restart.cpp) and vigilctl (ctl/*.cpp), defined once for both: the
// routes, the JSON field names, the goals of a wait and the steps of a
// rolling restart. Header-only and dependency-free, as proxy/admin_protocol.hpp
// is for the proxy's admin API; docs/control.md describes each route.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::control {

inline constexpr int version = 1;        // the path prefix below
inline constexpr std::string_view prefix = "v1";

// Routes: /v1/<resource>[/<name>[/<action>]]. Names in a path are sent
// percent-encoded (ctl::path_segment) and decoded by vigild.
namespace route {
inline constexpr std::string_view programs = "programs";  // GET list, /NAME: one
inline constexpr std::string_view version = "version";
inline constexpr std::string_view shutdown = "shutdown";
inline constexpr std::string_view events = "events";
inline constexpr std::string_view recent = "recent";  // GET /v1/events/recent: the web page's backlog
inline constexpr std::string_view config = "config";  // POST /config/reread, /config/update
inline constexpr std::string_view reread = "reread";
inline constexpr std::string_view update = "update";
inline constexpr std::string_view reload = "reload";
inline constexpr std::string_view upstreams = "upstreams";
inline constexpr std::string_view reopen = "reopen";  // POST: every log file reopened
inline constexpr std::string_view access = "access";  // GET: what the caller may do
inline constexpr std::string_view reexec = "reexec";  // POST: vigild re-executes itself in place
// Under /v1/programs/NAME/.
inline constexpr std::string_view start = "start";
inline constexpr std::string_view stop = "stop";
inline constexpr std::string_view restart = "restart";
inline constexpr std::string_view signal = "signal";
inline constexpr std::string_view wait = "wait";
inline constexpr std::string_view log = "log";
inline constexpr std::string_view health = "health";
inline constexpr std::string_view rolling_restart = "rolling-restart";
// POST /v1/programs/NAME/switchover, …/failover {"force": bool}: NAME, a
// replica, becomes the primary of its pair (docs/replication.md).
inline constexpr std::string_view switchover = "switchover";
inline constexpr std::string_view failover = "failover";
// POST /v1/programs/NAME/unfence: the fenced NAME is its pair's primary
// again and is started (refused while another member is the running primary).
inline constexpr std::string_view unfence = "unfence";

// "/v1/<resource>[/<sub>]"
inline std::string path(std::string_view resource, std::string_view sub = {}) {
    std::string p = "/" + std::string(prefix) + "/" + std::string(resource);
    if (!sub.empty()) p += "/" + std::string(sub);
    return p;
}
// "/v1/programs/<name>[/<action>]"; `encoded_name` already percent-encoded.
inline std::string program(std::string_view encoded_name, std::string_view action = {}) {
    std::string p = path(programs) + "/" + std::string(encoded_name);
    if (!action.empty()) p += "/" + std::string(action);
    return p;
}
}  // namespace route

// Query parameters: GET /v1/programs?fields=a,b and
// GET …/log?stream=stdout|stderr&offset=N&follow=1.
namespace query {
inline constexpr std::string_view fields = "fields";
inline constexpr std::string_view stream = "stream";
inline constexpr std::string_view offset = "offset";
inline constexpr std::string_view follow = "follow";
}  // namespace query

// JSON fields of requests and replies.
namespace field {
// A process (GET /v1/programs, /v1/programs/NAME).
inline constexpr const char* name = "name";
inline constexpr const char* group = "group";
inline constexpr const char* program = "program";
inline constexpr const char* state = "state";
inline constexpr const char* description = "description";
inline constexpr const char* health = "health";
inline constexpr const char* pid = "pid";
inline constexpr const char* kind = "kind";
inline constexpr const char* user = "user";
inline constexpr const char* address = "address";
inline constexpr const char* store = "store";  // kind = postgres|redis: where its data lives
inline constexpr const char* data_dir = "data_dir";
inline constexpr const char* pg_bin_dir = "pg_bin_dir";
inline constexpr const char* redis_bin = "redis_bin";
inline constexpr const char* db_user = "db_user";
inline constexpr const char* db_name = "db_name";
// GET …/health
inline constexpr const char* status = "status";
inline constexpr const char* check = "check";
inline constexpr const char* checks_passed = "checks_passed";
inline constexpr const char* checks_failed = "checks_failed";
inline constexpr const char* time = "time";
inline constexpr const char* latency_ms = "latency_ms";
inline constexpr const char* detail = "detail";
// Requests: start/stop/restart, signal, wait, rolling-restart, config/update.
inline constexpr const char* wait = "wait";
inline constexpr const char* timeout = "timeout";  // seconds
inline constexpr const char* goal = "goal";
inline constexpr const char* signal = "signal";
inline constexpr const char* names = "names";
inline constexpr const char* drain_timeout = "drain_timeout";  // seconds
// config/reread and config/update: process names.
inline constexpr const char* added = "added";
inline constexpr const char* changed = "changed";
inline constexpr const char* removed = "removed";
inline constexpr const char* unchanged = "unchanged";
// Replies.
inline constexpr const char* ok = "ok";
inline constexpr const char* message = "message";
inline constexpr const char* error = "error";
inline constexpr const char* errors = "errors";
inline constexpr const char* results = "results";  // one object per process: name, ok, state, health, message
inline constexpr const char* version = "version";
// A rolling restart's lines.
inline constexpr const char* step = "step";
inline constexpr const char* ms = "ms";
inline constexpr const char* restarted = "restarted";
inline constexpr const char* untouched = "untouched";
// GET /v1/programs/NAME: the limits set (null: none).
inline constexpr const char* limits = "limits";
inline constexpr const char* memory_bytes = "memory_bytes";
inline constexpr const char* cpu_cores = "cpu_cores";
inline constexpr const char* pids = "pids";
// GET /v1/version: re-executions so far.
inline constexpr const char* reexecs = "reexecs";
inline constexpr const char* reexec_failures = "reexec_failures";
inline constexpr const char* reexec_error = "reexec_error";
// POST /v1/reopen and GET /v1/access.
inline constexpr const char* reopened = "reopened";
inline constexpr const char* access = "access";  // "write" | "read"
inline constexpr const char* logs = "logs";      // may read program output
}  // namespace field

// What POST …/wait waits for.
enum class Goal : std::uint8_t { running, healthy, stopped };

constexpr const char* to_string(Goal g) noexcept {
    switch (g) {
        case Goal::running: return "running";
        case Goal::healthy: return "healthy";
        case Goal::stopped: return "stopped";
    }
    return "running";
}

constexpr std::optional<Goal> parse_goal(std::string_view s) noexcept {
    if (s == "running") return Goal::running;
    if (s == "healthy") return Goal::healthy;
    if (s == "stopped") return Goal::stopped;
    return std::nullopt;
}

// One line of a rolling restart's stream each (core/process_set_rolling.cpp
// decides them).
enum class RollStep : std::uint8_t {
    start, draining, drained, drain_timeout, stopped, started, healthy, up, skipped, failed, done
};

constexpr const char* to_string(RollStep s) noexcept {
    switch (s) {
        case RollStep::start: return "start";
        case RollStep::draining: return "draining";
        case RollStep::drained: return "drained";
        case RollStep::drain_timeout: return "drain_timeout";
        case RollStep::stopped: return "stopped";
        case RollStep::started: return "started";
        case RollStep::healthy: return "healthy";
        case RollStep::up: return "up";
        case RollStep::skipped: return "skipped";
        case RollStep::failed: return "failed";
        case RollStep::done: return "done";
    }
    return "";
}

}  // namespace vigil::control
