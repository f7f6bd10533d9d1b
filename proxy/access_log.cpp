#include "proxy/access_log.hpp"

#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace vigil::proxy {

void AccessLog::set_time(std::time_t now) {
    if (now == stamp_time_) return;
    stamp_time_ = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp_, sizeof stamp_, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void AccessLog::write(const Entry& e) {
    if (fd_ < 0) return;
    if (stamp_time_ == 0) set_time(std::time(nullptr));
    char line[1200];
    const int target_len = static_cast<int>(e.target.size() > 512 ? 512 : e.target.size());
    int n = std::snprintf(line, sizeof line,
                          "%s %.*s %.*s \"%.*s %.*s HTTP/1.%d\" %d %llu %.6f pool=%.*s upstream=%.*s tries=%d rid=%.*s\n",
                          stamp_, static_cast<int>(e.listener.size()), e.listener.data(),
                          static_cast<int>(e.client.size()), e.client.data(),
                          static_cast<int>(e.method.size() > 32 ? 32 : e.method.size()), e.method.data(),
                          target_len, e.target.data(), e.version_minor, e.status, e.bytes, e.seconds,
                          static_cast<int>(e.pool.empty() ? 1 : e.pool.size()), e.pool.empty() ? "-" : e.pool.data(),
                          static_cast<int>(e.upstream.empty() ? 1 : e.upstream.size()),
                          e.upstream.empty() ? "-" : e.upstream.data(), e.tries,
                          static_cast<int>(e.request_id.size() > 128 ? 128 : e.request_id.size()), e.request_id.data());
    if (n <= 0) return;
    if (n >= static_cast<int>(sizeof line)) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    buf_.append(line, static_cast<std::size_t>(n));
    if (buf_.size() >= buffer_limit) flush();
}

void AccessLog::flush() {
    if (fd_ < 0 || buf_.empty()) return;
    std::size_t off = 0;
    while (off < buf_.size()) {
        // Whole lines, at most PIPE_BUF bytes per write(2).
        std::size_t len = buf_.size() - off;
        if (len > PIPE_BUF) {
            std::size_t cut = buf_.rfind('\n', off + PIPE_BUF - 1);
            len = cut != std::string::npos && cut >= off ? cut + 1 - off : PIPE_BUF;
        }
        ssize_t w = ::write(fd_, buf_.data() + off, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;  // a full or broken log must not stop the proxy; lines are dropped
        }
        off += static_cast<std::size_t>(w);
    }
    buf_.clear();
}

}  // namespace vigil::proxy
