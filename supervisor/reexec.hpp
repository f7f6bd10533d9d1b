// `vigilctl reexec`: vigild replaces its own image in place, as systemd's
// daemon-reexec does. Same pid, so every program stays its child: nothing is
// stopped or restarted. The old image refuses first when something cannot
// be carried (an update or a rolling restart half-way, a pending wait, an
// event listener, a config file that differs from what runs), writes its
// whole state (reexec_state.hpp) to a memfd, clears close-on-exec on exactly
// the descriptors the state names, blocks the signals it handles (they stay
// pending, not lost, until the new image handles them) and execs the binary
// with `--reexec-state FD`. If the exec fails, the old image goes on. The
// new image takes the state over in vigild_main (Supervisor::resume), or,
// when it cannot read it, falls back to a crashed vigild's path: close what
// was carried, stop what runs (pid registry), start fresh.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "supervisor/reexec_state.hpp"

namespace vigil::supervisor {

class Supervisor;
class ControlServer;
class SdNotify;

namespace reexec {

// The binary to exec: /proc/self/exe's target, which after a package
// upgrade reads "/usr/bin/vigild (deleted)": then the same path, where the
// new binary now is. Empty when it cannot be read.
std::string binary_path();
// The signals vigild handles, blocked across the exec (vigild_main unblocks
// them once its handlers are installed).
void block_signals();
void unblock_signals();
// In the new image: reads the state from `fd` and closes it.
std::optional<State> read_state(int fd, std::string& error);
// Closes every inherited descriptor above stderr but `keep`: after a state
// that cannot be taken over, so none leaks into the programs started fresh.
void close_inherited(const std::vector<int>& keep = {});

}  // namespace reexec

class Reexecutor {
public:
    using Reloader = std::function<config::LoadResult()>;
    // `argv`: vigild's own arguments, passed again to the new image.
    // `reexecs`: how many re-execs this pid went through already.
    Reexecutor(Supervisor& sup, ControlServer& server, const SdNotify& notify, Reloader reload,
               std::vector<std::string> argv, std::uint64_t reexecs);

    // Why a re-exec cannot happen now, or "".
    std::string refusal() const;
    // Once the client has its 202: lets the control connections finish
    // what they are in the middle of, checks again, and re-executes.
    void begin();
    // Re-executes now; returns only when that failed (the old image goes
    // on), with the reason, which last_error() keeps.
    std::string run();

    std::uint64_t reexecs() const { return reexecs_; }  // done, by this pid
    std::uint64_t failures() const { return failures_; }  // attempts that left the old image running
    const std::string& last_error() const { return last_error_; }

private:
    Supervisor& sup_;
    ControlServer& server_;
    const SdNotify& notify_;
    Reloader reload_;
    std::vector<std::string> argv_;
    std::uint64_t reexecs_;
    std::uint64_t failures_ = 0;
    std::string last_error_;
};

}  // namespace vigil::supervisor
