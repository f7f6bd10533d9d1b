#include "supervisor/intent_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

namespace vigil::supervisor {

IntentStore::IntentStore(std::string state_dir) : path_(std::move(state_dir) + "/intent") {
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("stopped ", 0) == 0) stopped_.insert(line.substr(8));
}

bool IntentStore::set_stopped(const std::string& name, bool stopped) {
    const bool changed = stopped ? stopped_.insert(name).second : stopped_.erase(name) > 0;
    return !changed || save();
}

bool IntentStore::save() const {
    std::string text;
    for (const auto& n : stopped_) text += "stopped " + n + "\n";
    const std::string tmp = path_ + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
              ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    ok = ok && ::rename(tmp.c_str(), path_.c_str()) == 0;
    if (!ok) spdlog::error("cannot save operator intent to {}: {}", path_, std::strerror(errno));
    return ok;
}

}  // namespace vigil::supervisor
