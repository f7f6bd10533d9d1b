#include "supervisor/data_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil::supervisor {

std::string make_data_dir(const std::string& path, uid_t uid, gid_t gid) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return {};
    for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
        const std::string parent = path.substr(0, slash);
        if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST)
            return "cannot create " + parent + " (for data_dir " + path + "): " + std::strerror(errno);
    }
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        return "cannot create data_dir " + path + ": " + std::strerror(errno);
    // mkdir's mode is cut by the umask; the owner needs all of 0700.
    if (::chown(path.c_str(), uid, gid) != 0 || ::chmod(path.c_str(), 0700) != 0)
        return "cannot hand data_dir " + path + " to uid " + std::to_string(uid) + ": " + std::strerror(errno);
    return {};
}

}  // namespace vigil::supervisor
