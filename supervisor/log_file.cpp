#include "supervisor/log_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace vigil::supervisor {

LogFile::LogFile(std::string path, std::uint64_t max_bytes, int backups)
    : path_(std::move(path)), max_bytes_(max_bytes), backups_(backups) {
    open();
}

LogFile::~LogFile() {
    if (fd_ >= 0) ::close(fd_);
}

void LogFile::open() {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
    // 0640: program output may carry secrets; only root and the log's group read it.
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) {
        error_ = path_ + ": " + std::strerror(errno);
        size_ = 0;
        return;
    }
    struct stat st {};
    size_ = ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    error_.clear();
}

void LogFile::rotate() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (backups_ <= 0) {
        ::truncate(path_.c_str(), 0);
    } else {
        for (int i = backups_ - 1; i >= 1; --i) {
            const std::string from = path_ + "." + std::to_string(i);
            const std::string to = path_ + "." + std::to_string(i + 1);
            ::rename(from.c_str(), to.c_str());  // a missing backup is fine
        }
        ::rename(path_.c_str(), (path_ + ".1").c_str());
    }
    open();
}

void LogFile::reopen() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    open();
}

void LogFile::write(std::string_view data) {
    // Split a large chunk so no file ever passes max_bytes: operators size
    // their disks by maxbytes × (backups + 1).
    while (max_bytes_ > 0 && size_ + data.size() > max_bytes_) {
        if (size_ >= max_bytes_) {
            rotate();
            continue;
        }
        const std::size_t room = static_cast<std::size_t>(max_bytes_ - size_);
        append(data.substr(0, room));
        data.remove_prefix(room);
        if (fd_ < 0) return;
    }
    append(data);
}

void LogFile::append(std::string_view data) {
    if (fd_ < 0) open();
    if (fd_ < 0) return;
    while (!data.empty()) {
        const ssize_t n = ::write(fd_, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            error_ = path_ + ": " + std::strerror(errno);
            return;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
        size_ += static_cast<std::uint64_t>(n);
    }
}

}  // namespace vigil::supervisor
