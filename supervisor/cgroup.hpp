// Resource limits for one program through cgroups: `memory_limit`,
// `cpu_limit`, `pids_limit`. Works on a pure cgroup v2 host (production,
// with a delegated subtree under systemd's Delegate=yes) and on v1
// controllers (this build machine: memory, cpu and pids are v1, with a
// controller-less v2 beside them used for cgroup.kill). A limit this host
// cannot apply (no such controller: containers, LXC, chroot, WSL) is, with
// `[vigil] limits = best-effort` (the default), listed in not_applied() and
// left out, as Docker and systemd do; with `limits = required` the program
// is refused with the reason instead, never run unlimited.
//
// The child joins its cgroups itself, between fork and exec, by writing "0"
// to each cgroup.procs file opened for it beforehand: no window in which it
// runs unlimited.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace vigil::supervisor {

class ProgramCgroup {
public:
    // Creates (or reuses) the program's cgroups and writes its limits, under
    // a directory of this vigild's own (`instance`, from its state_dir), so
    // two vigilds on one host never share, kill or remove each other's.
    // On failure `error()` says why and nothing may be spawned; with
    // `best_effort` a limit that cannot be applied goes to not_applied()
    // instead and the others still apply.
    ProgramCgroup(const std::string& instance, const std::string& program_name, const config::Limits& limits,
                  bool best_effort);

    // A short stable id for a state_dir.
    static std::string instance_id(const std::string& state_dir);
    ~ProgramCgroup();
    ProgramCgroup(const ProgramCgroup&) = delete;
    ProgramCgroup& operator=(const ProgramCgroup&) = delete;

    const std::string& error() const { return error_; }
    bool active() const { return !dirs_.empty(); }
    // "memory_limit (…why…)" for each configured limit left out (best-effort).
    const std::vector<std::string>& not_applied() const { return not_applied_; }

    // Opens every cgroup.procs for a child to join (O_CLOEXEC fds, closed by
    // the caller after the spawn). Empty on error, and when no cgroup exists.
    std::vector<int> open_procs() const;
    // Kills everything still in the program's cgroups (cgroup.kill on v2,
    // SIGKILL to each listed pid on v1): what the program double-forked
    // away from its process group dies with it.
    void kill_all() const;
    // OOM kills recorded so far (memory.events or memory.oom_control).
    std::uint64_t oom_kills() const;
    // Where the limits live, for logs: "/sys/fs/cgroup/memory/vigil/web-0, …".
    std::string describe() const;

private:
    std::vector<std::string> dirs_;  // every cgroup dir of this program
    std::string memory_dir_;         // the one with memory.* files
    std::string kill_dir_;           // a v2 dir with cgroup.kill, if any
    std::string error_;
    std::vector<std::string> not_applied_;
};

// Without side effects (for `vigild --check` and the start-up warning): each
// configured limit whose cgroup controller this host lacks, as
// "memory_limit (…why…)".
std::vector<std::string> missing_controllers(const config::Limits& limits);
// "a (…), b (…)": the list in one line, for status and logs.
std::string describe_not_applied(const std::vector<std::string>& not_applied);
// `description`, plus "; limits not applied: …" when some were not.
std::string with_limits_note(const std::string& description, const std::vector<std::string>& not_applied);
// The keys of the configured limits: memory_limit, cpu_limit, pids_limit.
std::vector<std::string> limit_keys(const config::Limits& limits);

// Where vigild keeps its cgroups (for tests and `vigild --check` messages).
std::string cgroup_root_description();

}  // namespace vigil::supervisor
