#include "supervisor/ctl/backup_store.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <vector>

#include "supervisor/ctl/commands.hpp"

namespace vigil::ctl::backup_store {

namespace fs = std::filesystem;
using namespace backup_io;

const Store& store_for(const std::string& kind) { return kind == "postgres" ? postgres_store : redis_store; }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string human_bytes(std::uint64_t n) {
    char buf[32];
    if (n >= (1ULL << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", n / double(1ULL << 30));
    else if (n >= (1ULL << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", n / double(1ULL << 20));
    else if (n >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
    else std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
    return buf;
}

std::string trimmed(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    std::size_t b = 0;
    while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    return s.substr(b);
}

std::string tail_lines(const std::string& text, std::size_t n) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (!trimmed(l).empty()) lines.push_back(trimmed(l));
    std::string out;
    for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
        out += (out.empty() ? "" : " | ") + lines[i];
    return out.empty() ? "no output" : out;
}

Owner owner_of(const Program& p) {
    Owner o;
    if (p.user.empty() || ::geteuid() != 0) return o;
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
    passwd pw{};
    passwd* found = nullptr;
    const bool numeric = std::all_of(p.user.begin(), p.user.end(), [](char c) { return c >= '0' && c <= '9'; });
    const int rc = numeric ? ::getpwuid_r(static_cast<uid_t>(std::stoul(p.user)), &pw, buf.data(), buf.size(), &found)
                           : ::getpwnam_r(p.user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || !found) fail(kFailed, "no such user '" + p.user + "' (the program's user)");
    o.uid = found->pw_uid;
    o.gid = found->pw_gid;
    o.name = found->pw_name;
    o.switch_user = o.uid != 0;
    return o;
}

std::string say(const Program& p) { return p.name + ": "; }

BackupDirGuard::~BackupDirGuard() {
    if (done_) return;
    std::error_code ec;
    if (made_) {
        fs::remove_all(dir_, ec);
    } else {
        for (const auto& e : fs::directory_iterator(dir_, ec)) fs::remove_all(e.path(), ec);
    }
}

bool prepare_backup_dir(const fs::path& dir) {
    std::error_code ec;
    if (fs::exists(dir, ec)) {
        if (!fs::is_directory(dir, ec)) fail(kFailed, dir.string() + " exists and is not a directory");
        if (!fs::is_empty(dir, ec))
            fail(kFailed, dir.string() + " is not empty: a backup goes into a new or empty directory");
        ::chmod(dir.c_str(), 0700);  // a backup holds every row / key
        return false;
    }
    if (!fs::create_directories(dir, ec) && ec) fail(kFailed, "cannot create " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
    return true;
}

backup::Manifest manifest_of(const Program& p, const std::string& server_version, const std::string& method) {
    backup::Manifest m;
    // A pair's backup is the pair's data, whichever member it was read from.
    m.program = p.pair.empty() ? p.name : p.pair;
    m.pair = p.pair;
    m.source = p.pair.empty() ? std::string() : p.name;
    m.kind = p.kind;
    m.time = backup::iso_utc(std::time(nullptr));
    m.server_version = server_version;
    m.method = method;
    return m;
}

void seal(backup::Manifest& m, const fs::path& dir, const Owner& who, Clock::time_point t0, BackupDirGuard& guard) {
    m.bytes = size_of_tree(dir / std::string(backup::kDataName));
    m.duration_ms = static_cast<std::int64_t>(seconds_since(t0) * 1000);
    write_file_durably(dir / std::string(backup::kManifestName), backup::to_json(m));
    chown_tree(dir, who);
    guard.done();
}

}  // namespace vigil::ctl::backup_store
