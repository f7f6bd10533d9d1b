// The I/O under `vigilctl backup` and `restore` (supervisor/ctl/backup.cpp):
// how a step fails, running the servers' own tools as the program's user,
// and files written so that a crash leaves all or nothing.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace vigil::ctl::backup_io {

// A failure with its message and exit code; caught once in backup_restore().
struct Failure {
    int code;
    std::string message;
};
[[noreturn]] void fail(int code, std::string message);

// Who runs the tools and owns the files: the program's user when vigilctl
// is root, else vigilctl's own.
struct Owner {
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    std::string name;
    bool switch_user = false;
};

// Runs argv to completion as `who`, stdout and stderr together in *output.
// Returns the exit status (128+N for signal N, -1 when it could not run).
int run_tool(const std::vector<std::string>& argv, const Owner& who, std::string* output,
             std::chrono::seconds timeout = std::chrono::seconds(3600));

std::uint64_t size_of_tree(const std::filesystem::path& p);
// Gives p and everything under it to `o` (when vigilctl is root).
void chown_tree(const std::filesystem::path& p, const Owner& o);
void fsync_path(const std::filesystem::path& p);
// Through a temporary name, fsynced, then renamed: a reader of `to` sees all
// of it or nothing.
void copy_file_durably(const std::filesystem::path& from, const std::filesystem::path& to);
void write_file_durably(const std::filesystem::path& to, const std::string& text);

}  // namespace vigil::ctl::backup_io
