// supervisord's events as text, exactly as its listeners read them
// (supervisor/events.py, process.py _eventEnvelope): payloads, the header
// line, and vigil's process states as the PROCESS_STATE_* events supervisord
// would send for the same change. Pure: no I/O, unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/core/process_machine.hpp"

namespace vigil::supervisor::events {

// supervisord's server identifier (its `identifier` option's default);
// the `server:` of an event is [supervisord] identifier (config::Daemon).
inline constexpr std::string_view kServerId = "supervisor";

struct Event {
    std::string type;     // a concrete type: PROCESS_STATE_RUNNING, TICK_5, …
    std::string payload;  // valid UTF-8 (see printable())
};

// What a PROCESS_STATE payload needs to know about the process.
struct ProcessFacts {
    std::string name, group;
    int pid = 0;       // the current process, or the one that just ended
    int tries = 0;     // failed starts in a row (supervisord's `backoff`)
    bool expected = false;  // for EXITED: the exit code is in exitcodes
};

// A vigil transition as supervisord's sequence of PROCESS_STATE events.
// vigil skips states supervisord passes through; those are sent too, so a
// listener sees what it would under supervisord:
//   RUNNING → BACKOFF|STARTING (a crash)    EXITED, then BACKOFF|STARTING
//   STARTING → FATAL (out of retries)       BACKOFF, then FATAL
//   STOPPING → STARTING|BACKOFF (restart)   STOPPED, then STARTING|BACKOFF
std::vector<Event> process_state_events(core::State from, core::State to, const ProcessFacts& f);

std::string process_log_payload(const std::string& name, const std::string& group, int pid,
                                std::string_view channel, std::string_view data);
std::string communication_payload(const std::string& name, const std::string& group, int pid, std::string_view data);
std::string remote_payload(std::string_view type, std::string_view data);
std::string group_payload(std::string_view group);
std::string tick_payload(std::int64_t when);

// The header line and payload as written to a listener's stdin. `len` counts
// characters, as supervisord (Python 3 str) does and childutils reads them.
std::string envelope(std::string_view server, std::uint64_t serial, std::string_view pool, std::uint64_t pool_serial,
                     const Event& e);

// `data` itself when it is valid UTF-8, else supervisord's
// "Undecodable: b'…'" rendering (Python's bytes repr).
std::string printable(std::string_view data);
// Characters (code points) in valid UTF-8.
std::size_t code_points(std::string_view utf8) noexcept;

}  // namespace vigil::supervisor::events
