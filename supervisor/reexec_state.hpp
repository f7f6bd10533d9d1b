// What vigild hands to its own new image when it re-executes itself in
// place (`vigilctl reexec`, supervisor/reexec.hpp): every process as its
// runner, machine, health monitor and the set knew it, the descriptors that
// stay open across the exec (pidfds, output pipes, notify sockets, held
// sockets, the control listeners), and the operator's intents. JSON,
// versioned: a new image that reads a version it does not know refuses the
// state and falls back to the path of a crashed vigild (stop what runs,
// start fresh), never to a half-understood adoption.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/core/health_tracker.hpp"
#include "supervisor/core/process_machine.hpp"
#include "supervisor/core/process_set.hpp"
#include "supervisor/health/health_monitor.hpp"

namespace vigil::supervisor::reexec {

// Bump on any change of meaning; an image only takes its own version.
inline constexpr int kStateVersion = 1;

struct CarriedPipe {
    int read_fd = -1;
    int write_fd = -1;
};

struct CarriedHealth {
    bool running = false;  // checks were running: they go on
    core::HealthTracker::Snapshot tracker;
    std::uint64_t passed = 0, failed = 0;
    std::deque<health::HealthRecord> history;
    // The probe latency histogram (ProcessRunner::LatencyHistogram).
    std::vector<std::uint64_t> latency_buckets;
    std::uint64_t latency_count = 0;
    double latency_sum = 0;
};

struct CarriedProcess {
    std::string name;
    core::Intent intent = core::Intent::down;
    std::optional<core::HealthStatus> set_health;  // the set's view
    core::MachineSnapshot machine;
    // When each timer of the runner fires (steady clock), if armed.
    std::array<std::optional<core::TimePoint>, core::kTimerCount> timers;
    int pidfd = -1;
    std::array<CarriedPipe, 2> pipes;
    int notify_fd = -1;
    std::string notify_status, spawn_error, exit_reason;
    std::uint64_t oom_kills = 0, oom_kills_at_spawn = 0;
    CarriedHealth health;
};

struct CarriedSocket {
    std::string url;
    int fd = -1;
    std::string unix_path, owner;
    unsigned mode = 0;
    int backlog = 0;
};

struct State {
    int version = kStateVersion;
    std::string from_version;  // the old image's vigild version, for the log
    std::uint64_t reexecs = 0;  // re-execs so far, this one included
    int control_fd = -1;        // the control socket's listener
    int tcp_fd = -1;            // [inet_http_server]'s, or -1
    std::vector<CarriedSocket> sockets;
    std::vector<CarriedProcess> processes;

    // Every descriptor the state names: exactly those lose FD_CLOEXEC.
    std::vector<int> fds() const;
};

std::string to_json(const State& s);
// nullopt with `error` set when the text is not a state of kStateVersion.
std::optional<State> from_json(const std::string& text, std::string& error);

}  // namespace vigil::supervisor::reexec
