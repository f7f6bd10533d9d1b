#include "proxy/access_log.hpp"

#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vigil::proxy {

void AccessLog::set_time(std::time_t now) {
    if (now == stamp_time_) return;
    stamp_time_ = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp_, sizeof stamp_, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

namespace {
// Formatting by hand: snprintf with %.6f costs more than the rest of a
// proxied request's user-space work.
inline char* put(char* p, std::string_view s, std::size_t max) {
    const std::size_t n = s.size() < max ? s.size() : max;
    std::memcpy(p, s.data(), n);
    return p + n;
}
inline char* put_uint(char* p, unsigned long long v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}
// Client-controlled text: '"', '\\', control bytes and non-ASCII become
// \xHH, as nginx's log escaping does, so no field can be forged. At most
// `max` input bytes (4 output bytes each).
inline char* put_escaped(char* p, std::string_view s, std::size_t max) {
    static constexpr char digits[] = "0123456789ABCDEF";
    const std::size_t n = s.size() < max ? s.size() : max;
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = digits[c >> 4];
            *p++ = digits[c & 15];
        } else {
            *p++ = static_cast<char>(c);
        }
    }
    return p;
}
inline char* put_or_dash(char* p, std::string_view s, std::size_t max) {
    return s.empty() ? put(p, "-", 1) : put(p, s, max);
}
}  // namespace

void AccessLog::write(const Entry& e) {
    if (fd_ < 0) return;
    if (stamp_time_ == 0) set_time(std::time(nullptr));
    // Every field is bounded (at most 3,000 bytes in all, escaped target and
    // method included): the line always fits.
    char line[3200];
    char* p = line;
    p = put(p, stamp_, sizeof stamp_ - 1);
    *p++ = ' ';
    p = put(p, e.listener, 64);
    *p++ = ' ';
    p = put(p, e.client, 64);
    *p++ = ' ';
    *p++ = '"';
    p = put_escaped(p, e.method, 32);
    *p++ = ' ';
    p = put_escaped(p, e.target, 512);
    p = put(p, e.version_minor == 0 ? " HTTP/1.0\" " : " HTTP/1.1\" ", 11);
    if (e.status >= 0) p = put_uint(p, static_cast<unsigned>(e.status));
    *p++ = ' ';
    p = put_uint(p, e.bytes);
    *p++ = ' ';
    const unsigned long long us =
        e.seconds > 0 ? static_cast<unsigned long long>(e.seconds * 1e6 + 0.5) : 0ull;  // %.6f
    p = put_uint(p, us / 1000000);
    *p++ = '.';
    for (unsigned long long frac = us % 1000000, div = 100000; div; div /= 10) *p++ = static_cast<char>('0' + frac / div % 10);
    p = put(p, " pool=", 6);
    p = put_or_dash(p, e.pool, 128);
    p = put(p, " upstream=", 10);
    p = put_or_dash(p, e.upstream, 128);
    p = put(p, " tries=", 7);
    p = put_uint(p, static_cast<unsigned>(e.tries > 0 ? e.tries : 0));
    p = put(p, " rid=", 5);
    p = put_escaped(p, e.request_id, 128);
    *p++ = '\n';
    buf_.append(line, static_cast<std::size_t>(p - line));
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
