#include "supervisor/intent_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/atomic_file.hpp"

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
    // Synced: an operator's stop must hold across a power loss too.
    const std::string error = write_file_atomically(path_, text, Durability::synced);
    if (!error.empty()) spdlog::error("cannot save operator intent: {}", error);
    return error.empty();
}

}  // namespace vigil::supervisor
