#include "supervisor/ctl/redis_client.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "supervisor/ctl/backup_io.hpp"
#include "supervisor/ctl/backup_plan.hpp"
#include "supervisor/ctl/commands.hpp"

namespace vigil::ctl {
namespace {

namespace bk = ctl::backup;
using backup_io::fail;
using core::resp::Value;

// What vigilctl asks Redis answers small: INFO server, persistence or
// keyspace (a bulk string of a few KiB), CONFIG GET of one name (a flat
// array of two bulk strings, the name and a value no longer than a path),
// LASTSAVE (an integer), BGSAVE (a status). These limits hold all of them
// many times over; a server answering more is refused at once, not
// buffered until the 10 s receive timeout.
constexpr core::resp::Limits kLimits{
    .max_line = 64 * 1024,
    .max_bulk = 1024 * 1024,
    .max_items = 16,
    .max_depth = 1,
    .max_reply = 2 * 1024 * 1024,
};

}  // namespace

Redis::Redis(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
        fail(kFailed, "bad redis address " + host);
    fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int rc = ::connect(fd_, res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
    if (rc != 0) {
        const std::string why = std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
        fail(kFailed, "cannot connect to redis at " + host + ":" + std::to_string(port) + ": " + why);
    }
}

Redis::~Redis() {
    if (fd_ >= 0) ::close(fd_);
}

Value Redis::command(const std::vector<std::string>& argv) {
    const std::string req = core::redis::command(argv);
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
        fail(kFailed, "redis: send: " + std::string(std::strerror(errno)));
    for (;;) {
        std::size_t used = 0;
        std::string error;
        auto v = core::resp::parse(buf_, used, error, kLimits);
        if (v) {
            buf_.erase(0, used);
            return *v;
        }
        if (!error.empty()) fail(kFailed, "redis: " + error);
        char tmp[16384];
        const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) fail(kFailed, "redis: no answer to " + argv[0] + (n < 0 ? ": " + std::string(std::strerror(errno)) : ""));
        buf_.append(tmp, static_cast<std::size_t>(n));
    }
}

Value Redis::ok(const std::vector<std::string>& argv) {
    auto v = command(argv);
    if (v.type == Value::Type::error) fail(kFailed, "redis: " + argv[0] + ": " + v.str);
    return v;
}

std::string Redis::config_get(const std::string& key) {
    auto v = ok({"CONFIG", "GET", key});
    return v.items.size() == 2 ? v.items[1].str : "";
}

std::map<std::string, std::string> Redis::info(const std::string& section) {
    return bk::parse_info(ok({"INFO", section}).str);
}

}  // namespace vigil::ctl
