#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vigil::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// The value of header `name` (lower case) in `head`, or "" when absent.
std::string header(const std::string& head, const std::string& name) {
    std::size_t at = head.find("\r\n");
    while (at != std::string::npos && at + 2 < head.size()) {
        const std::size_t end = head.find("\r\n", at + 2);
        const std::string line = head.substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2);
        const std::size_t colon = line.find(':');
        if (colon != std::string::npos && lower(line.substr(0, colon)) == name) {
            std::string v = line.substr(colon + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            v.erase(v.find_last_not_of(" \t") + 1);
            return v;
        }
        at = end;
    }
    return "";
}

}  // namespace

bool KeepAliveClient::open(std::string& why) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Bounds connect() (Linux applies SO_SNDTIMEO to it); reads poll.
    timeval tv{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>(timeout_.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
        why = std::string("connect: ") + std::strerror(errno);
        drop();
        return false;
    }
    ++connections_;
    return true;
}

void KeepAliveClient::drop() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    in_.clear();
}

// An idle kept connection is readable only when the server closed it (the
// one reason to open a new one) or sent bytes nobody asked for: a framing
// error (a second response to one request), reported as this request's
// failure.
bool KeepAliveClient::idle_ok(std::string& why) {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) == 0) return true;
    char buf[256];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
        why = "unsolicited bytes on an idle connection: " + std::string(buf, static_cast<std::size_t>(n));
        drop();
        return false;
    }
    drop();  // closed (or reset) by the server while idle
    return true;
}

bool KeepAliveClient::read_more(std::string& why) {
    const auto left = std::chrono::duration_cast<Ms>(deadline_ - Clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
        why = "timeout after " + std::to_string(in_.size()) + " bytes";
        return false;
    }
    char buf[16384];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
        why = n == 0 ? "closed after " + std::to_string(in_.size()) + " bytes"
                     : std::string("read: ") + std::strerror(errno);
        return false;
    }
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
}

bool KeepAliveClient::read_response(bool head_only, Reply& r, bool& server_closes) {
    std::size_t head_end;
    for (;;) {  // 1xx answers come before the final one
        while ((head_end = in_.find("\r\n\r\n")) == std::string::npos)
            if (!read_more(r.error)) return false;
        if (in_.rfind("HTTP/1.", 0) != 0 || head_end < 12) {
            r.error = "not an HTTP response: " + in_.substr(0, std::min<std::size_t>(head_end, 80));
            return false;
        }
        r.status = std::atoi(in_.c_str() + 9);
        r.head = in_.substr(0, head_end + 2);
        in_.erase(0, head_end + 4);
        if (r.status >= 200) break;
    }
    server_closes = lower(header(r.head, "connection")).find("close") != std::string::npos ||
                    r.head.rfind("HTTP/1.0", 0) == 0;
    const std::string te = lower(header(r.head, "transfer-encoding"));
    const std::string cl = header(r.head, "content-length");
    if (head_only || r.status == 204 || r.status == 304) {
        // no body
    } else if (te.find("chunked") != std::string::npos) {
        for (;;) {
            std::size_t eol;
            while ((eol = in_.find("\r\n")) == std::string::npos)
                if (!read_more(r.error)) return false;
            const std::size_t size = std::strtoul(in_.c_str(), nullptr, 16);
            in_.erase(0, eol + 2);
            if (size == 0) {  // trailers, up to an empty line
                while ((eol = in_.find("\r\n")) != 0) {
                    if (eol == std::string::npos) {
                        if (!read_more(r.error)) return false;
                    } else {
                        in_.erase(0, eol + 2);
                    }
                }
                in_.erase(0, 2);
                break;
            }
            while (in_.size() < size + 2)
                if (!read_more(r.error)) return false;
            r.body.append(in_, 0, size);
            in_.erase(0, size + 2);
        }
    } else if (!cl.empty()) {
        const std::size_t need = std::stoul(cl);
        while (in_.size() < need)
            if (!read_more(r.error)) return false;
        r.body = in_.substr(0, need);
        in_.erase(0, need);
    } else {  // delimited by the close
        std::string why;
        while (read_more(why)) {
        }
        if (why.rfind("closed", 0) != 0) {
            r.error = why;
            return false;
        }
        r.body = std::move(in_);
        in_.clear();
        server_closes = true;
    }
    if (!in_.empty()) {  // nothing was asked for these: the framing is broken
        r.error = std::to_string(in_.size()) + " bytes after the response: " + in_.substr(0, 80);
        return false;
    }
    return true;
}

Reply KeepAliveClient::request(const std::string& method, const std::string& target, const std::string& headers,
                               const std::string& body) {
    ++requests_;
    Reply r;
    if (fd_ >= 0 && !idle_ok(r.error)) return r;
    if (fd_ < 0 && !open(r.error)) return r;
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers;
    if (!body.empty() || method == "POST" || method == "PUT")
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    deadline_ = Clock::now() + timeout_;
    for (std::size_t sent = 0; sent < req.size();) {
        const ssize_t n = ::send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            r.error = std::string("send: ") + std::strerror(errno);
            drop();
            return r;
        }
        sent += static_cast<std::size_t>(n);
    }
    bool server_closes = false;
    if (!read_response(method == "HEAD", r, server_closes)) {
        r.status = 0;
        r.body.clear();
        drop();
        return r;
    }
    if (server_closes) drop();
    return r;
}

}  // namespace vigil::test
