#include "config/host_checks.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>

#include "config/command_line.hpp"

namespace vigil::config {
namespace {

// Who the program runs as: uid and every group, as the spawner sets them.
struct Identity {
    uid_t uid = 0;
    std::vector<gid_t> gids;
    std::string name;  // for messages
};

bool numeric(const std::string& s) {
    return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<passwd> find_user(const std::string& user, std::vector<char>& buf) {
    passwd pw{};
    passwd* found = nullptr;
    buf.resize(16384);
    const int rc = numeric(user) ? ::getpwuid_r(static_cast<uid_t>(std::stoul(user)), &pw, buf.data(), buf.size(), &found)
                                 : ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || !found) return std::nullopt;
    return pw;
}

std::optional<gid_t> find_group(const std::string& group) {
    std::vector<char> buf(16384);
    struct group gr {};
    struct group* found = nullptr;
    const int rc = numeric(group) ? ::getgrgid_r(static_cast<gid_t>(std::stoul(group)), &gr, buf.data(), buf.size(), &found)
                                  : ::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found);
    if (rc != 0 || !found) return std::nullopt;
    return gr.gr_gid;
}

// What the mode bits give `who` (`bit`: 1 execute/search, 4 read). A file
// with an ACL, whose entries may say otherwise, counts as permitted: the
// check refuses only what is certain.
bool permitted(const std::string& path, const struct stat& st, const Identity& who, unsigned bit) {
    if (who.uid == 0) return bit != 1 || S_ISDIR(st.st_mode) || (st.st_mode & 0111);
    if (::getxattr(path.c_str(), "system.posix_acl_access", nullptr, 0) > 0) return true;
    if (st.st_uid == who.uid) return st.st_mode & (bit << 6);
    if (std::find(who.gids.begin(), who.gids.end(), st.st_gid) != who.gids.end()) return st.st_mode & (bit << 3);
    return st.st_mode & bit;
}

// Every directory above `path` must be searchable by `who`. Empty when it
// is, or when this checker cannot see (it is not root and may not look).
std::string unreachable(const std::string& path, const Identity& who) {
    for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
        const std::string dir = path.substr(0, slash);
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0) return {};
        if (permitted(dir, st, who, 1)) continue;
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        return "user '" + who.name + "' cannot reach " + path + ": no search permission on " + dir + " (mode " + mode +
               ")";
    }
    return {};
}

// A command's file: there, a regular file, executable by `who`.
std::string check_executable(const std::string& path, const Identity& who) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == EACCES && ::geteuid() != 0) return {};  // not ours to see; vigild (root) will
        if (std::string why = unreachable(path, who); !why.empty()) return why;
        return path + " does not exist";
    }
    if (std::string why = unreachable(path, who); !why.empty()) return why;
    if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
    if (!permitted(path, st, who, 1)) return path + " is not executable by user '" + who.name + "'";
    return {};
}

std::string search_path(const std::string& name, const std::string& path_var, const std::string& base) {
    std::size_t start = 0;
    while (start <= path_var.size()) {
        const std::size_t end = std::min(path_var.find(':', start), path_var.size());
        std::string dir = end > start ? path_var.substr(start, end - start) : ".";
        if (dir[0] != '/') dir = base + "/" + dir;
        const std::string candidate = dir + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return candidate;
        start = end + 1;
    }
    return {};
}

}  // namespace

std::vector<HostProblem> check_on_host(const Program& p, const std::map<std::string, std::string>& env) {
    std::vector<HostProblem> out;
    Identity who;
    who.uid = ::geteuid();
    std::vector<char> buf;
    const std::string user = p.user.empty() ? std::to_string(::geteuid()) : p.user;
    const auto pw = find_user(user, buf);
    if (!pw && !p.user.empty()) {
        out.push_back({"user", "no such user '" + p.user + "'"});
        return out;  // whose permissions to check is unknown
    }
    if (pw) {
        who.uid = pw->pw_uid;
        who.name = pw->pw_name;
        int n = 64;
        who.gids.resize(n);
        if (::getgrouplist(pw->pw_name, pw->pw_gid, who.gids.data(), &n) < 0) {
            who.gids.resize(n);
            ::getgrouplist(pw->pw_name, pw->pw_gid, who.gids.data(), &n);
        }
        who.gids.resize(std::max(n, 0));
    } else {  // vigild's own uid without a passwd entry (a bare container)
        who.name = user;
        who.gids = {::getegid()};
    }
    if (!p.os_group.empty()) {
        const auto gid = find_group(p.os_group);
        if (!gid) out.push_back({"group", "no such group '" + p.os_group + "'"});
        else who.gids.push_back(*gid);
    }

    std::string cwd;
    if (!p.directory.empty()) {
        struct stat st {};
        if (::stat(p.directory.c_str(), &st) != 0) {
            if (errno != EACCES || ::geteuid() == 0) out.push_back({"directory", p.directory + " does not exist"});
        } else if (!S_ISDIR(st.st_mode)) {
            out.push_back({"directory", p.directory + " is not a directory"});
        } else if (std::string why = unreachable(p.directory + "/", who); !why.empty()) {
            out.push_back({"directory", why});
        }
        cwd = p.directory;
    } else {
        char here[4096];
        if (::getcwd(here, sizeof here)) cwd = here;
    }

    // vigild (root) creates a missing data_dir for the user, but the user
    // must still be able to get to it.
    if (!p.data_dir.empty())
        if (std::string why = unreachable(p.data_dir, who); !why.empty()) out.push_back({"data_dir", why});

    // kind = proxy: vigild fills the command in itself; postgres and redis
    // run /bin/sh with their own binaries, checked by the kind.
    if (p.command.empty()) return out;
    const auto argv = split_command(p.command).argv;
    if (argv.empty()) return out;
    const std::string& prog = argv[0];
    std::string path;
    if (prog.find('/') != std::string::npos) {
        path = prog[0] == '/' ? prog : cwd + "/" + prog;
    } else {
        std::string path_var = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        if (auto it = env.find("PATH"); it != env.end()) path_var = it->second;
        for (const auto& [k, v] : p.environment)
            if (k == "PATH") path_var = v;
        path = search_path(prog, path_var, cwd);
        if (path.empty()) {
            out.push_back({"command", "'" + prog + "' is not in PATH (" + path_var + ")"});
            return out;
        }
    }
    if (std::string why = check_executable(path, who); !why.empty()) out.push_back({"command", why});
    if (p.kind == "redis" && !p.redis_bin.empty())
        if (std::string why = check_executable(p.redis_bin, who); !why.empty()) out.push_back({"redis_bin", why});
    return out;
}

}  // namespace vigil::config
