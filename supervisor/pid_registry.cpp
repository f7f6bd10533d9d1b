#include "supervisor/pid_registry.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/atomic_file.hpp"

namespace vigil::supervisor {

PidRegistry::PidRegistry(std::string state_dir, std::function<void(std::function<void()>)> defer)
    : path_(std::move(state_dir) + "/pids"), defer_(std::move(defer)) {
    std::ifstream in(path_);
    std::string name;
    Entry e{};
    while (in >> name >> e.pid >> e.start) entries_[name] = e;
}

unsigned long long PidRegistry::start_time(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    // Fields after the command name start at 3 (state); start time is 22.
    for (int i = 3; i <= 22 && rest >> field; ++i)
        if (i == 22) return std::stoull(field);
    return 0;
}

void PidRegistry::record(const std::string& name, pid_t pid) {
    entries_[name] = Entry{pid, start_time(pid)};
    save_soon();
}

void PidRegistry::forget(const std::string& name) {
    if (entries_.erase(name)) save_soon();
}

void PidRegistry::save_soon() {
    if (save_pending_) return;
    save_pending_ = true;
    defer_([this, alive = alive_] {
        if (!*alive) return;
        save_pending_ = false;
        save();
    });
}

std::vector<Leftover> PidRegistry::leftovers() const {
    std::vector<Leftover> out;
    for (const auto& [name, e] : entries_)
        if (e.pid > 0 && e.start != 0 && start_time(e.pid) == e.start) out.push_back({name, e.pid});
    return out;
}

std::size_t PidRegistry::stop_leftovers(const std::map<std::string, int>& stop_signals, std::chrono::milliseconds grace) {
    const auto found = leftovers();
    std::vector<int> pidfds;
    for (const auto& l : found) {
        auto it = stop_signals.find(l.name);
        const int sig = it == stop_signals.end() ? SIGTERM : it->second;
        spdlog::warn("{}: pid {} was left running by a previous vigild; stopping it before starting fresh", l.name,
                     l.pid);
        pidfds.push_back(static_cast<int>(::syscall(SYS_pidfd_open, l.pid, 0)));
        if (::kill(-l.pid, sig) < 0) ::kill(l.pid, sig);
    }
    // The pidfds turn readable as each one exits; wait for all with one deadline.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    for (std::size_t i = 0; i < found.size(); ++i) {
        if (pidfds[i] < 0) continue;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{pidfds[i], POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count()))) <= 0) {
            spdlog::warn("{}: pid {} did not stop within {} ms: SIGKILL", found[i].name, found[i].pid, grace.count());
            ::kill(found[i].pid, SIGKILL);
            poll(&p, 1, 5000);
        }
        // What else the program left in its group goes too.
        ::kill(-found[i].pid, SIGKILL);
        ::close(pidfds[i]);
    }
    entries_.clear();
    save();
    return found.size();
}

void PidRegistry::save() const {
    std::string text;
    for (const auto& [name, e] : entries_)
        text += name + " " + std::to_string(e.pid) + " " + std::to_string(e.start) + "\n";
    // Not synced: after a power loss none of these processes exist anyway.
    write_file_atomically(path_, text, Durability::replace_only);
}

}  // namespace vigil::supervisor
