#include "supervisor/held_sockets.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <spdlog/spdlog.h>

#include "config/socket_url.hpp"
#include "supervisor/spawner.hpp"

namespace vigil::supervisor {
namespace {

std::string errno_text(const std::string& what, const std::string& url) {
    return what + " " + url + ": " + std::strerror(errno);
}

int listen_tcp(const config::SocketUrl& u, int backlog, std::string& error) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(u.port);
    const int rc = ::getaddrinfo(u.host == "*" ? nullptr : u.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
        error = "cannot resolve " + u.text() + ": " + ::gai_strerror(rc);
        return -1;
    }
    int fd = -1;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        const int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, backlog) == 0) break;
        error = errno_text("cannot listen on", u.text());
        ::close(fd);
        fd = -1;
    }
    ::freeaddrinfo(res);
    return fd;
}

int listen_unix(const config::SocketUrl& u, int backlog, std::string& error) {
    // A socket file left by an earlier vigild (or a crashed program) would
    // make bind fail; only a socket is removed, never another kind of file.
    struct stat st {};
    if (::lstat(u.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error = "cannot listen on " + u.text() + ": the path exists and is not a socket";
            return -1;
        }
        ::unlink(u.path.c_str());
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = errno_text("cannot create", u.text());
        return -1;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, u.path.c_str(), u.path.size() + 1);  // length checked by the loader
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(fd, backlog) < 0) {
        error = errno_text("cannot listen on", u.text());
        ::close(fd);
        return -1;
    }
    return fd;
}

// Owner and mode of a unix socket's path: who may connect.
bool apply_access(const std::string& path, const std::string& owner, unsigned mode, std::string& error) {
    if (::chmod(path.c_str(), mode) < 0) {
        error = errno_text("cannot chmod", "unix://" + path);
        return false;
    }
    if (owner.empty()) return true;
    const auto colon = owner.find(':');
    auto user = lookup_user(owner.substr(0, colon));
    if (!user.creds) {
        error = "socket_owner: " + user.error;
        return false;
    }
    if (colon != std::string::npos) {
        if (std::string why = apply_group(*user.creds, owner.substr(colon + 1)); !why.empty()) {
            error = "socket_owner: " + why;
            return false;
        }
    }
    if (::chown(path.c_str(), user.creds->uid, user.creds->gid) < 0) {
        error = errno_text("cannot chown", "unix://" + path);
        return false;
    }
    return true;
}

int backlog_of(const config::Program& p) { return p.socket_backlog > 0 ? p.socket_backlog : SOMAXCONN; }

}  // namespace

HeldSockets::~HeldSockets() {
    for (auto& [_, h] : held_) close(h);
}

void HeldSockets::close(Held& h) {
    if (h.fd >= 0) ::close(h.fd);
    if (!h.unix_path.empty()) ::unlink(h.unix_path.c_str());
    h.fd = -1;
}

bool HeldSockets::open(const config::Program& p, const std::string& url, std::string& error) {
    std::string why;
    auto u = config::parse_socket_url(url, why);
    if (!u) {  // the loader refuses these; defensive only
        error = why;
        return false;
    }
    Held h;
    h.backlog = backlog_of(p);
    h.fd = u->family == config::SocketUrl::Family::tcp ? listen_tcp(*u, h.backlog, error)
                                                        : listen_unix(*u, h.backlog, error);
    if (h.fd < 0) return false;
    if (u->family == config::SocketUrl::Family::unix_path) {
        h.unix_path = u->path;
        h.owner = p.socket_owner;
        h.mode = p.socket_mode;
        if (!apply_access(h.unix_path, h.owner, h.mode, error)) {
            close(h);
            return false;
        }
    }
    spdlog::info("{}: holding {} (fd {})", p.program, url, h.fd);
    held_.emplace(url, h);
    return true;
}

void HeldSockets::sync(const std::vector<config::Program>& programs) {
    std::set<std::string> wanted;
    for (const auto& p : programs) {
        for (const auto& url : p.sockets) {
            if (!wanted.insert(url).second) continue;  // shared by processes of one pool: set up once
            auto it = held_.find(url);
            std::string error;
            if (it == held_.end()) {
                if (!open(p, url, error)) spdlog::warn("{}: {}", p.program, error);
                continue;
            }
            Held& h = it->second;
            if (h.backlog != backlog_of(p) && ::listen(h.fd, backlog_of(p)) == 0) h.backlog = backlog_of(p);
            if (!h.unix_path.empty() && (h.owner != p.socket_owner || h.mode != p.socket_mode)) {
                if (apply_access(h.unix_path, p.socket_owner, p.socket_mode, error)) {
                    h.owner = p.socket_owner;
                    h.mode = p.socket_mode;
                } else {
                    spdlog::warn("{}: {}", p.program, error);
                }
            }
        }
    }
    for (auto it = held_.begin(); it != held_.end();) {
        if (wanted.count(it->first)) {
            ++it;
            continue;
        }
        spdlog::info("closing {}: no program lists it any more", it->first);
        close(it->second);
        it = held_.erase(it);
    }
}

std::vector<int> HeldSockets::fds_for(const config::Program& p, std::string& error) {
    std::vector<int> fds;
    for (const auto& url : p.sockets) {
        auto it = held_.find(url);
        if (it == held_.end()) {
            if (!open(p, url, error)) return {};
            it = held_.find(url);
        }
        fds.push_back(it->second.fd);
    }
    return fds;
}

std::vector<reexec::CarriedSocket> HeldSockets::carry() const {
    std::vector<reexec::CarriedSocket> out;
    for (const auto& [url, h] : held_) out.push_back({url, h.fd, h.unix_path, h.owner, h.mode, h.backlog});
    return out;
}

void HeldSockets::adopt(const std::vector<reexec::CarriedSocket>& carried) {
    for (const auto& c : carried) held_[c.url] = Held{c.fd, c.unix_path, c.owner, c.mode, c.backlog};
}

}  // namespace vigil::supervisor
