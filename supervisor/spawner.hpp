// fork/execve with everything a supervised child needs set up before exec:
// its own session and process group, stdio on our pipes, working directory,
// umask, user and groups, and no inherited fd beyond 0-2. Returns a pidfd so
// the exit is noticed the moment it happens (docs/dependencies.md explains why we
// own spawning instead of using Boost.Process v2: fd leaks, lost statuses
// under a subreaper, exit() in the child).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace vigil::supervisor {

struct Credentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    std::string home, name;
};

// Looks a user up (name or numeric uid). Empty error on success.
struct UserLookup {
    std::optional<Credentials> creds;
    std::string error;
};
UserLookup lookup_user(const std::string& user);
// Replaces the primary group (name or numeric gid), keeping the user's
// supplementary groups. Empty error on success.
std::string apply_group(Credentials& creds, const std::string& group);

struct SpawnRequest {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // "KEY=VALUE"
    std::string directory;         // empty: inherit
    std::optional<Credentials> creds;
    std::optional<mode_t> umask;
    int stdin_fd = -1;   // -1: /dev/null
    int stdout_fd = -1;  // -1: /dev/null
    int stderr_fd = -1;
    // cgroup.procs files the child writes "0" to before exec, so it never
    // runs outside its limits.
    std::vector<int> cgroup_procs;
    // Sockets handed over with systemd's protocol: fds 3, 4, … with
    // LISTEN_FDS, LISTEN_PID (the child's own pid) and LISTEN_FDNAMES set —
    // or, with listen_on_stdin, the one socket as fd 0 (supervisord's FastCGI).
    std::vector<int> listen_fds;
    std::vector<std::string> listen_names;  // parallel to listen_fds
    bool listen_on_stdin = false;
};

struct SpawnResult {
    pid_t pid = -1;
    int pidfd = -1;
    int error = 0;      // errno of the failing step
    std::string stage;  // which step failed: "fork", "chdir", "setuid", "exec", …
    bool ok() const { return pid > 0; }
};

SpawnResult spawn(const SpawnRequest& request) noexcept;

}  // namespace vigil::supervisor
