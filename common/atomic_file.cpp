#include "common/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil {
namespace {

std::string failed(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

std::string write_file_atomically(const std::string& path, std::string_view text, Durability durability,
                                  mode_t mode) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return failed("cannot create", tmp);
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const std::string why = failed("cannot write", tmp);
            ::close(fd);
            return why;
        }
        done += static_cast<std::size_t>(n);
    }
    if (durability == Durability::synced && ::fsync(fd) != 0) {
        const std::string why = failed("cannot sync", tmp);
        ::close(fd);
        return why;
    }
    if (::close(fd) != 0) return failed("cannot write", tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("cannot rename " + tmp + " to", path);
    if (durability == Durability::synced) {
        // The rename itself is in the directory.
        const std::size_t slash = path.rfind('/');
        const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
    }
    return "";
}

}  // namespace vigil
