#include "prerequisites.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace vigil::test {
namespace fs = std::filesystem;

namespace {
bool runnable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }
}  // namespace

Prerequisites& Prerequisites::root() {
    if (::geteuid() != 0) missing_.push_back("root");
    return *this;
}

Prerequisites& Prerequisites::user(const std::string& name) {
    if (!::getpwnam(name.c_str())) missing_.push_back("a " + name + " user");
    return *this;
}

Prerequisites& Prerequisites::executable(const std::string& path) {
    if (!runnable(path)) missing_.push_back(path);
    return *this;
}

Prerequisites& Prerequisites::postgres(const std::vector<std::string>& tools) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
        const fs::path bin = e.path() / "bin";
        if (runnable(bin / "postgres") &&
            std::all_of(tools.begin(), tools.end(), [&](const std::string& t) { return runnable(bin / t); }))
            return *this;
    }
    std::string what = "PostgreSQL (/usr/lib/postgresql/*/bin/postgres";
    for (const auto& t : tools) what += ", " + t;
    missing_.push_back(what + ")");
    return *this;
}

Prerequisites& Prerequisites::cgroups() {
    const bool hierarchy =
        fs::exists("/sys/fs/cgroup/memory/cgroup.procs") || fs::exists("/sys/fs/cgroup/cgroup.controllers");
    if (::geteuid() != 0 || !hierarchy) missing_.push_back("a writable cgroup hierarchy (root, /sys/fs/cgroup)");
    return *this;
}

std::string Prerequisites::missing() const {
    std::string out;
    for (const auto& m : missing_) out += (out.empty() ? "" : ", ") + m;
    return out;
}

std::string pg_bin_dir() {
    std::string best;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
        if (runnable((e.path() / "bin/postgres").string())) best = std::max(best, (e.path() / "bin").string());
    return best;
}

}  // namespace vigil::test
