// A program's captured stdout or stderr on disk, rotated by size the way
// supervisord does it: NAME → NAME.1 → … → NAME.<backups>, oldest dropped.
// Writes are plain blocking appends: log files are local and small writes to
// the page cache do not stall the event loop in practice.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::supervisor {

class LogFile {
public:
    LogFile(std::string path, std::uint64_t max_bytes, int backups);
    ~LogFile();
    LogFile(const LogFile&) = delete;
    LogFile& operator=(const LogFile&) = delete;

    // Appends; rotates first when the write would pass max_bytes.
    void write(std::string_view data);
    // Closes and opens the path again: after logrotate moved the file away,
    // writes go to a new file at the configured path (`vigilctl reopen`).
    void reopen();
    const std::string& path() const { return path_; }
    // Last error opening or writing, for the log (empty when fine).
    const std::string& error() const { return error_; }

private:
    void open();
    void rotate();
    void append(std::string_view data);

    std::string path_;
    std::uint64_t max_bytes_;
    int backups_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
    std::string error_;
};

}  // namespace vigil::supervisor
