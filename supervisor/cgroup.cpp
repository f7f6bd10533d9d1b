#include "supervisor/cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace vigil::supervisor {
namespace {

namespace fs = std::filesystem;
constexpr const char* kRoot = "/sys/fs/cgroup";

bool write_file(const std::string& path, const std::string& value, std::string& error) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
        error = path + ": " + std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return false;
    }
    ::close(fd);
    return true;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// vigild's own cgroup per hierarchy, from /proc/self/cgroup: "" = v2,
// otherwise the v1 controller names ("memory", "cpu,cpuacct", …).
std::map<std::string, std::string> own_cgroups() {
    std::map<std::string, std::string> out;
    std::istringstream in(read_file("/proc/self/cgroup"));
    for (std::string line; std::getline(in, line);) {
        const auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        out[line.substr(a + 1, b - a - 1)] = line.substr(b + 1);
    }
    return out;
}

// Where each v1 controller vigild belongs to is mounted, plus vigild's own
// path in it and "/vigil": controller ("memory", "cpu", "pids") -> dir.
std::map<std::string, std::string> v1_dirs(const std::map<std::string, std::string>& own) {
    std::map<std::string, std::string> out;
    for (const auto& [controllers, path] : own) {
        std::istringstream names(controllers);
        for (std::string c; std::getline(names, c, ',');) {
            if (c != "memory" && c != "cpu" && c != "pids") continue;
            std::string mount = std::string(kRoot) + "/" + controllers;
            if (!fs::exists(mount)) mount = std::string(kRoot) + "/" + c;
            if (fs::exists(mount)) out[c] = mount + (path == "/" ? "" : path) + "/vigil";
        }
    }
    return out;
}

struct Layout {
    bool pure_v2 = false;
    std::string v2_base;                        // vigild's v2 cgroup dir
    std::map<std::string, std::string> v1;      // controller -> dir for vigil's programs
    std::string error;
};

// On pure v2 a cgroup with processes may not also hand controllers to its
// children, so vigild first moves itself into a leaf "vigild" beside the
// programs' cgroups (the delegated subtree is ours: systemd Delegate=yes).
Layout detect() {
    Layout l;
    const auto own = own_cgroups();
    if (fs::exists(std::string(kRoot) + "/cgroup.controllers")) {
        l.pure_v2 = true;
        const auto it = own.find("");
        l.v2_base = std::string(kRoot) + (it == own.end() ? "" : it->second);
        if (l.v2_base.back() == '/') l.v2_base.pop_back();
        std::error_code ec;
        fs::create_directories(l.v2_base + "/vigild", ec);
        std::string err;
        if (!write_file(l.v2_base + "/vigild/cgroup.procs", std::to_string(::getpid()), err) ||
            !write_file(l.v2_base + "/cgroup.subtree_control", "+memory +cpu +pids", err))
            l.error = "cannot delegate cgroup controllers under " + l.v2_base + " (" + err +
                      "); run vigild with Delegate=yes or as root";
        return l;
    }
    l.v1 = v1_dirs(own);
    // A controller-less v2 beside v1 still tracks a whole tree and has cgroup.kill.
    const auto it = own.find("");
    if (fs::exists(std::string(kRoot) + "/unified/cgroup.procs"))
        l.v2_base = std::string(kRoot) + "/unified" + (it == own.end() || it->second == "/" ? "" : it->second) + "/vigil";
    return l;
}

// The configured limits: key and the controller it needs.
std::vector<std::pair<std::string, std::string>> configured(const config::Limits& limits) {
    std::vector<std::pair<std::string, std::string>> out;
    if (limits.memory_bytes) out.emplace_back("memory_limit", "memory");
    if (limits.cpu_cores) out.emplace_back("cpu_limit", "cpu");
    if (limits.pids) out.emplace_back("pids_limit", "pids");
    return out;
}

std::string needs(const std::string& controller) {
    return "needs the " + controller + " cgroup controller, which this host lacks";
}

const Layout& layout() {
    static const Layout l = detect();
    return l;
}

std::uint64_t field(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    std::string k;
    std::uint64_t v;
    while (in >> k >> v)
        if (k == key) return v;
    return 0;
}

}  // namespace

std::string cgroup_root_description() {
    const Layout& l = layout();
    if (l.pure_v2) return "cgroup v2 at " + l.v2_base;
    std::string out = "cgroup v1";
    for (const auto& [c, dir] : l.v1) out += " " + c + "=" + dir;
    return out;
}

std::string ProgramCgroup::instance_id(const std::string& state_dir) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016zx", std::hash<std::string>{}(state_dir));
    return buf;
}

std::string describe_not_applied(const std::vector<std::string>& not_applied) {
    std::string out;
    for (const auto& n : not_applied) out += (out.empty() ? "" : ", ") + n;
    return out;
}

std::string with_limits_note(const std::string& description, const std::vector<std::string>& not_applied) {
    if (not_applied.empty()) return description;
    return description + (description.empty() ? "" : "; ") + "limits not applied: " + describe_not_applied(not_applied);
}

std::vector<std::string> limit_keys(const config::Limits& limits) {
    std::vector<std::string> out;
    for (auto& [key, controller] : configured(limits)) out.push_back(key);
    return out;
}

std::vector<std::string> missing_controllers(const config::Limits& limits) {
    const auto own = own_cgroups();
    std::set<std::string> have;
    if (fs::exists(std::string(kRoot) + "/cgroup.controllers")) {
        // What vigild's own cgroup may hand down; the root's when unreadable.
        const auto it = own.find("");
        std::string text = read_file(std::string(kRoot) + (it == own.end() ? "" : it->second) + "/cgroup.controllers");
        if (text.empty()) text = read_file(std::string(kRoot) + "/cgroup.controllers");
        std::istringstream in(text);
        for (std::string c; in >> c;) have.insert(c);
    } else {
        for (const auto& [c, dir] : v1_dirs(own)) have.insert(c);
    }
    std::vector<std::string> out;
    for (const auto& [key, controller] : configured(limits))
        if (!have.count(controller)) out.push_back(key + " (" + needs(controller) + ")");
    return out;
}

ProgramCgroup::ProgramCgroup(const std::string& instance, const std::string& program, const config::Limits& limits,
                             bool best_effort) {
    const std::string name = instance + "/" + program;
    const Layout& l = layout();
    // A limit that cannot be applied: left out and noted (best-effort), or
    // the error that refuses the program. `error` is today's refusal text.
    auto cannot = [&](const std::string& key, const std::string& why, const std::string& error) {
        if (best_effort) not_applied_.push_back(key + " (" + why + ")");
        else error_ = error;
    };
    auto make = [&](const std::string& dir, const std::string& key) {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (!ec) {
            dirs_.push_back(dir);
            return true;
        }
        const std::string why = "cannot create cgroup " + dir + ": " + ec.message();
        cannot(key, why, why);
        return false;
    };
    auto write = [&](const std::string& key, const std::string& path, const std::string& value) {
        std::string err;
        if (write_file(path, value, err)) return true;
        cannot(key, err, err);
        return false;
    };
    const auto cores = limits.cpu_cores;
    if (l.pure_v2) {
        if (!l.error.empty()) {
            for (const auto& [key, controller] : configured(limits)) cannot(key, l.error, l.error);
            return;
        }
        const std::string dir = l.v2_base + "/programs/" + name;
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) {  // not one of them applies
            for (const auto& [key, controller] : configured(limits))
                cannot(key, "cannot create cgroup " + dir + ": " + ec.message(),
                       "cannot create cgroup " + dir + ": " + ec.message());
            return;
        }
        dirs_.push_back(dir);
        memory_dir_ = kill_dir_ = dir;
        if (limits.memory_bytes) {
            if (!write("memory_limit", dir + "/memory.max", std::to_string(*limits.memory_bytes))) {
                memory_dir_.clear();
                if (!error_.empty()) return;
            } else if (fs::exists(dir + "/memory.swap.max")) {
                // No swap, so the limit means what it says and an overrun is an OOM kill.
                std::string ignored;
                write_file(dir + "/memory.swap.max", "0", ignored);
            }
        }
        if (cores && !write("cpu_limit", dir + "/cpu.max", std::to_string(std::llround(*cores * 100000)) + " 100000") &&
            !error_.empty())
            return;
        if (limits.pids && !write("pids_limit", dir + "/pids.max", std::to_string(*limits.pids)) && !error_.empty())
            return;
        return;
    }
    // The v1 dir of one limit, created; empty when it cannot be.
    auto v1_dir = [&](const char* controller, const std::string& key) -> std::string {
        auto it = l.v1.find(controller);
        if (it == l.v1.end()) {
            cannot(key, needs(controller), key + " " + needs(controller));
            return {};
        }
        return make(it->second + "/" + name, key) ? it->second + "/" + name : std::string{};
    };
    if (limits.memory_bytes) {
        const std::string dir = v1_dir("memory", "memory_limit");
        if (!dir.empty() && write("memory_limit", dir + "/memory.limit_in_bytes", std::to_string(*limits.memory_bytes))) {
            memory_dir_ = dir;
            if (fs::exists(dir + "/memory.memsw.limit_in_bytes")) {
                std::string ignored;
                write_file(dir + "/memory.memsw.limit_in_bytes", std::to_string(*limits.memory_bytes), ignored);
            }
        }
        if (!error_.empty()) return;
    }
    if (cores) {
        const std::string dir = v1_dir("cpu", "cpu_limit");
        if (!dir.empty() && write("cpu_limit", dir + "/cpu.cfs_period_us", "100000"))
            write("cpu_limit", dir + "/cpu.cfs_quota_us", std::to_string(std::llround(*cores * 100000)));
        if (!error_.empty()) return;
    }
    if (limits.pids) {
        const std::string dir = v1_dir("pids", "pids_limit");
        if (!dir.empty()) write("pids_limit", dir + "/pids.max", std::to_string(*limits.pids));
        if (!error_.empty()) return;
    }
    // The controller-less v2 dir is a bonus, not a requirement.
    if (!l.v2_base.empty()) {
        const std::string kill = l.v2_base + "/" + name;
        std::error_code ec;
        fs::create_directories(kill, ec);
        if (!ec) {
            dirs_.push_back(kill);
            if (fs::exists(kill + "/cgroup.kill")) kill_dir_ = kill;
        }
    }
}

ProgramCgroup::~ProgramCgroup() {
    kill_all();
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) ::rmdir(it->c_str());
}

std::vector<int> ProgramCgroup::open_procs() const {
    std::vector<int> fds;
    for (const auto& dir : dirs_) {
        const int fd = ::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            for (int f : fds) ::close(f);
            return {};
        }
        fds.push_back(fd);
    }
    return fds;
}

void ProgramCgroup::kill_all() const {
    if (!kill_dir_.empty()) {
        std::string err;
        if (write_file(kill_dir_ + "/cgroup.kill", "1", err)) return;
    }
    for (const auto& dir : dirs_) {
        std::istringstream in(read_file(dir + "/cgroup.procs"));
        for (pid_t pid; in >> pid;) ::kill(pid, SIGKILL);
    }
}

std::uint64_t ProgramCgroup::oom_kills() const {
    if (memory_dir_.empty()) return 0;
    if (layout().pure_v2) return field(read_file(memory_dir_ + "/memory.events"), "oom_kill");
    return field(read_file(memory_dir_ + "/memory.oom_control"), "oom_kill");
}

std::string ProgramCgroup::describe() const {
    std::string out;
    for (const auto& d : dirs_) out += (out.empty() ? "" : ", ") + d;
    return out;
}

}  // namespace vigil::supervisor
