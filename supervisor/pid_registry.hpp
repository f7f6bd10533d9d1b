// Which processes vigild has running, on disk (<state_dir>/pids), so that a
// vigild killed with -9 and started again can find what its previous run
// left behind. Each entry carries the process's start time from /proc, so a
// recycled pid is never mistaken for one of ours.
//
// On start-up vigild *stops* leftovers (whole process groups, stop signal,
// then SIGKILL) before starting fresh, rather than adopting them: an adopted
// process is no longer vigild's child (no pidfd exit status, no stdout pipe,
// no log capture), so it could only be half-supervised. Stopping costs one
// restart of each program after a crash of vigild itself — rare — and
// guarantees one copy of each program and no port-conflict crash loop.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vigil::supervisor {

struct Leftover {
    std::string name;
    pid_t pid;
};

class PidRegistry {
public:
    // `defer` runs a function later on the event loop: writes are coalesced
    // to one per loop turn, off the exit-to-respawn path.
    PidRegistry(std::string state_dir, std::function<void(std::function<void()>)> defer);
    ~PidRegistry() { *alive_ = false; }

    void record(const std::string& name, pid_t pid);
    void forget(const std::string& name);

    // Entries of a previous run whose process still exists (same start time).
    std::vector<Leftover> leftovers() const;
    // Stops leftovers: `stop_signal` to each group, SIGKILL after `grace`.
    // Returns how many were found. Clears the registry.
    std::size_t stop_leftovers(const std::map<std::string, int>& stop_signals, std::chrono::milliseconds grace);

    // /proc/PID/stat field 22 (clock ticks since boot), or 0 when gone.
    static unsigned long long start_time(pid_t pid);

private:
    void save_soon();
    void save() const;

    std::string path_;
    struct Entry {
        pid_t pid;
        unsigned long long start;
    };
    std::map<std::string, Entry> entries_;
    std::function<void(std::function<void()>)> defer_;
    bool save_pending_ = false;
    // A deferred save may run after the registry is gone (shutdown).
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::supervisor
