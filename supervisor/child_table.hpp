// Which of vigild's children belong to whom: pid -> the owner's reap
// function. vigild is a child subreaper, so the kernel hands it every orphan
// of every program; the reaper (Supervisor::reap_children) peeks at each
// exited child, gives the ones in this table to their owner (a process
// runner, an exec health check), which collects the status through its
// pidfd, and reaps only the rest: true orphans whose status nobody wants.
// One event loop, no locks.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>

namespace vigil::supervisor {

class ChildTable {
public:
    // The one of this process: pids are process-wide, and it outlives every
    // handler that may still hold a child when the event loop is torn down.
    static ChildTable& process() {
        static ChildTable table;
        return table;
    }

    // Reaps the child if it has exited; false while it still runs (its
    // pidfd will fire later).
    using Reap = std::function<bool()>;

    // Register right after the spawn, before returning to the event loop:
    // the reaper runs from that loop, so it cannot see the child first.
    void add(pid_t pid, Reap reap) { owners_[pid] = std::move(reap); }
    void remove(pid_t pid) { owners_.erase(pid); }
    bool owns(pid_t pid) const { return owners_.count(pid) > 0; }

    // Gives `pid` to its owner: nullopt when it has none (an orphan), else
    // whether the owner reaped it.
    std::optional<bool> hand_over(pid_t pid) {
        auto it = owners_.find(pid);
        if (it == owners_.end()) return std::nullopt;
        Reap reap = it->second;  // the owner may remove itself while reaping
        return reap();
    }

private:
    std::map<pid_t, Reap> owners_;
};

}  // namespace vigil::supervisor
