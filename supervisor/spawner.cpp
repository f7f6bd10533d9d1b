#include "supervisor/spawner.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor/child_signals.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <algorithm>

namespace vigil::supervisor {
namespace {

// Steps the child reports a failure from, through the exec-status pipe.
enum Stage : int { st_setsid = 1, st_stdio, st_umask, st_chdir, st_groups, st_gid, st_uid, st_exec, st_cgroup, st_sockets };

const char* stage_name(int s) {
    switch (s) {
        case st_setsid: return "setsid";
        case st_stdio: return "stdio";
        case st_umask: return "umask";
        case st_chdir: return "chdir";
        case st_groups: return "setgroups";
        case st_gid: return "setgid";
        case st_uid: return "setuid";
        case st_exec: return "exec";
        case st_cgroup: return "cgroup";
        case st_sockets: return "sockets";
    }
    return "spawn";
}

std::string find_executable(const std::string& name, const std::vector<std::string>& env) {
    if (name.find('/') != std::string::npos) return name;
    std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const auto& kv : env)
        if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
    std::size_t start = 0;
    while (start <= path.size()) {
        const std::size_t end = std::min(path.find(':', start), path.size());
        const std::string dir = end > start ? path.substr(start, end - start) : ".";
        const std::string candidate = dir + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        start = end + 1;
    }
    return {};
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Writes `n` in decimal over the digits reserved after "LISTEN_PID=": the
// child cannot allocate, and only it knows its pid.
void write_pid(char* at, pid_t n) {
    char digits[24];
    int len = 0;
    do digits[len++] = static_cast<char>('0' + n % 10);
    while ((n /= 10) > 0);
    while (len > 0) *at++ = digits[--len];
    *at = '\0';
}

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void child(const SpawnRequest& r, const char* path, char* const* argv, char* const* envp, int devnull,
                        int status_fd, char* listen_pid) {
    auto fail = [&status_fd](int stage) {
        const int msg[2] = {stage, errno};
        [[maybe_unused]] auto n = ::write(status_fd, msg, sizeof msg);
        ::_exit(127);
    };

    reset_signals_for_child();

    for (int fd : r.cgroup_procs)
        if (::write(fd, "0", 1) != 1) fail(st_cgroup);
    if (::setsid() < 0) fail(st_setsid);
    const int out = r.stdout_fd >= 0 ? r.stdout_fd : devnull;
    const int err = r.stderr_fd >= 0 ? r.stderr_fd : devnull;
    const int in = r.listen_on_stdin && !r.listen_fds.empty() ? r.listen_fds[0]
                   : r.stdin_fd >= 0                            ? r.stdin_fd
                                                                : devnull;
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) fail(st_stdio);
    // Sockets go to 3, 4, …: first everything that must survive (the status
    // pipe, the sockets) moves above that range, then each lands in place.
    const int passed = r.listen_on_stdin ? 0 : static_cast<int>(r.listen_fds.size());
    if (passed > 0) {
        const int above = 3 + passed;
        if ((status_fd = ::fcntl(status_fd, F_DUPFD_CLOEXEC, above)) < 0) fail(st_sockets);
        int moved[256];
        for (int i = 0; i < passed; ++i)
            if ((moved[i] = ::fcntl(r.listen_fds[i], F_DUPFD_CLOEXEC, above)) < 0) fail(st_sockets);
        for (int i = 0; i < passed; ++i)
            if (::dup2(moved[i], 3 + i) < 0) fail(st_sockets);  // dup2 leaves the new fd open on exec
        write_pid(listen_pid, ::getpid());
    }
    if (r.umask) ::umask(*r.umask);
    if (!r.directory.empty() && ::chdir(r.directory.c_str()) < 0) fail(st_chdir);
    if (r.creds) {
        if (::setgroups(r.creds->groups.size(), r.creds->groups.data()) < 0) fail(st_groups);
        if (::setgid(r.creds->gid) < 0) fail(st_gid);
        if (::setuid(r.creds->uid) < 0) fail(st_uid);
    }
    // Everything above 2 (and the passed sockets) closes on exec, the status
    // pipe included, so its EOF tells the parent exec succeeded.
    ::syscall(SYS_close_range, static_cast<unsigned>(3 + passed), ~0U, CLOSE_RANGE_CLOEXEC);
    reset_fd_limit_for_child();
    ::execve(path, argv, envp);
    fail(st_exec);
    ::_exit(127);  // not reached
}

}  // namespace

UserLookup lookup_user(const std::string& user) {
    UserLookup r;
    struct passwd pw {};
    struct passwd* found = nullptr;
    std::vector<char> buf(16384);
    char* end = nullptr;
    const unsigned long uid = std::strtoul(user.c_str(), &end, 10);
    const bool numeric = !user.empty() && end && *end == '\0';
    const int rc = numeric ? ::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found)
                           : ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || found == nullptr) {
        r.error = "no such user '" + user + "'";
        return r;
    }
    Credentials c;
    c.uid = pw.pw_uid;
    c.gid = pw.pw_gid;
    c.home = pw.pw_dir ? pw.pw_dir : "/";
    c.name = pw.pw_name;
    int n = 64;
    c.groups.resize(n);
    if (::getgrouplist(pw.pw_name, pw.pw_gid, c.groups.data(), &n) < 0) {
        c.groups.resize(n);
        ::getgrouplist(pw.pw_name, pw.pw_gid, c.groups.data(), &n);
    }
    c.groups.resize(n);
    r.creds = std::move(c);
    return r;
}

std::string apply_group(Credentials& creds, const std::string& group) {
    struct group gr {};
    struct group* found = nullptr;
    std::vector<char> buf(16384);
    char* end = nullptr;
    const unsigned long gid = std::strtoul(group.c_str(), &end, 10);
    const bool numeric = !group.empty() && end && *end == '\0';
    const int rc = numeric ? ::getgrgid_r(static_cast<gid_t>(gid), &gr, buf.data(), buf.size(), &found)
                           : ::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found);
    if (rc != 0 || found == nullptr) return "no such group '" + group + "'";
    creds.gid = gr.gr_gid;
    if (std::find(creds.groups.begin(), creds.groups.end(), gr.gr_gid) == creds.groups.end())
        creds.groups.push_back(gr.gr_gid);
    return {};
}

SpawnResult spawn(const SpawnRequest& r) noexcept {
    SpawnResult res;
    if (r.argv.empty()) {
        res.error = EINVAL;
        res.stage = "exec";
        return res;
    }
    const std::string path = find_executable(r.argv[0], r.env);
    if (path.empty()) {
        res.error = ENOENT;
        res.stage = "exec";
        return res;
    }
    // Build argv/envp before fork: the child may not allocate.
    std::vector<char*> argv, envp;
    for (const auto& a : r.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : r.env) envp.push_back(const_cast<char*>(e.c_str()));
    std::string listen_fds, listen_names, listen_pid;
    if (!r.listen_fds.empty() && !r.listen_on_stdin) {
        if (r.listen_fds.size() > 250) {  // the child's fixed table; far beyond any real program
            res.error = EMFILE;
            res.stage = "sockets";
            return res;
        }
        listen_fds = "LISTEN_FDS=" + std::to_string(r.listen_fds.size());
        listen_names = "LISTEN_FDNAMES=";
        for (std::size_t i = 0; i < r.listen_fds.size(); ++i)
            listen_names += (i ? ":" : "") + (i < r.listen_names.size() ? r.listen_names[i] : std::string("unknown"));
        listen_pid = "LISTEN_PID=" + std::string(20, '0');
        envp.push_back(listen_fds.data());
        envp.push_back(listen_names.data());
        envp.push_back(listen_pid.data());
    }
    envp.push_back(nullptr);

    const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    int status[2];
    if (devnull < 0 || ::pipe2(status, O_CLOEXEC) < 0) {
        res.error = errno;
        res.stage = "pipe";
        if (devnull >= 0) ::close(devnull);
        return res;
    }

    const pid_t pid = ::fork();
    if (pid == 0)
        child(r, path.c_str(), argv.data(), envp.data(), devnull, status[1],
              listen_pid.empty() ? nullptr : listen_pid.data() + 11);
    const int fork_errno = errno;
    ::close(status[1]);
    ::close(devnull);
    if (pid < 0) {
        ::close(status[0]);
        res.error = fork_errno;
        res.stage = "fork";
        return res;
    }

    int msg[2] = {0, 0};
    ssize_t n;
    do n = ::read(status[0], msg, sizeof msg);
    while (n < 0 && errno == EINTR);
    ::close(status[0]);
    if (n == static_cast<ssize_t>(sizeof msg)) {
        // The child failed before exec and has _exit()ed: reap it here, it
        // was never a managed process.
        int ws;
        while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
        }
        res.error = msg[1];
        res.stage = stage_name(msg[0]);
        return res;
    }

    res.pid = pid;
    res.pidfd = pidfd_open(pid);
    if (res.pidfd < 0) {  // cannot watch it: do not leave an unwatched child behind
        res.error = errno;
        res.stage = "pidfd_open";
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        int ws;
        while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
        }
        res.pid = -1;
    }
    return res;
}

}  // namespace vigil::supervisor
