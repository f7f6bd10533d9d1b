#include "recorder.hpp"

#include "text.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace conformance {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t max_head = 64 * 1024;
// A proxy that relays half a request and waits forever would hang the
// connection thread: past this much silence with unparsed bytes buffered,
// what was received is recorded as an error and the connection closed.
constexpr int stall_ms = 1000;

bool has_token(const std::string& list, const std::string& token) {
    std::size_t start = 0;
    while (start <= list.size()) {
        std::size_t comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        if (lower(trim(list.substr(start, comma - start))) == token) return true;
        start = comma + 1;
    }
    return false;
}

std::string query_param(const std::string& target, const std::string& name) {
    const auto q = target.find('?');
    if (q == std::string::npos) return "";
    const std::string key = name + "=";
    std::size_t at = q + 1;
    while (at < target.size()) {
        std::size_t amp = target.find('&', at);
        if (amp == std::string::npos) amp = target.size();
        if (target.compare(at, key.size(), key) == 0) return target.substr(at + key.size(), amp - at - key.size());
        at = amp + 1;
    }
    return "";
}

// One connection's input: blocking reads bounded by poll, so the recorder can
// stop and a stalled peer cannot hold a thread.
class Input {
public:
    Input(int fd, const std::atomic<bool>& stop) : fd_(fd), stop_(stop) {}
    std::string buf;
    // False on EOF, error, stop, or `stall_ms` without a byte while data is pending.
    bool more() {
        int quiet = 0;
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, 100);
            if (r < 0) return false;
            if (r == 0) {
                quiet += 100;
                if (!buf.empty() && quiet >= stall_ms) return false;
                continue;
            }
            char tmp[16384];
            const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return false;
            buf.append(tmp, static_cast<std::size_t>(n));
            return true;
        }
        return false;
    }
    // The next CRLF-terminated line (without it); false when none arrives.
    bool line(std::size_t from, std::size_t& eol) {
        while ((eol = buf.find("\r\n", from)) == std::string::npos) {
            if (buf.size() > max_head || !more()) return false;
        }
        return true;
    }

private:
    int fd_;
    const std::atomic<bool>& stop_;
};

// Reads one request off `in`; false (with r.error set) when the bytes are not one.
bool read_request(Input& in, Received& r) {
    std::size_t end;
    while ((end = in.buf.find("\r\n\r\n")) == std::string::npos) {
        if (in.buf.size() > max_head) return r.error = "head too large", false;
        if (!in.more()) return r.error = in.buf.empty() ? "" : "incomplete head", false;
    }
    const std::string head = in.buf.substr(0, end + 2);
    in.buf.erase(0, end + 4);
    std::size_t eol = head.find("\r\n");
    const std::string request_line = head.substr(0, eol);
    const auto s1 = request_line.find(' ');
    const auto s2 = request_line.find(' ', s1 == std::string::npos ? s1 : s1 + 1);
    if (s1 == std::string::npos || s2 == std::string::npos || request_line.find(' ', s2 + 1) != std::string::npos)
        return r.error = "bad request line", r.body = head, false;
    r.method = request_line.substr(0, s1);
    r.target = request_line.substr(s1 + 1, s2 - s1 - 1);
    r.version = request_line.substr(s2 + 1);
    if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0") return r.error = "bad version", r.body = head, false;
    for (std::size_t at = eol + 2; at < head.size();) {
        const std::size_t next = head.find("\r\n", at);
        const std::string line = head.substr(at, next - at);
        at = next + 2;
        const auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0 || line.find_first_of("\r\n") != std::string::npos)
            return r.error = "bad header line", r.body = head, false;
        r.headers.emplace_back(lower(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }

    const std::string kind = query_param(r.target, "r");
    if (kind == "early" || kind == "early-rst") {  // answered before the body is read
        r.framing = "unread";
        return true;
    }
    std::string te, cl;
    for (const auto& [name, value] : r.headers) {
        if (name == "transfer-encoding") te += (te.empty() ? "" : ",") + value;
        if (name == "content-length") {
            if (!cl.empty() && cl != value) return r.error = "conflicting Content-Length", r.body = head, false;
            cl = value;
        }
    }
    if (!te.empty()) {
        if (lower(trim(te.substr(te.rfind(',') == std::string::npos ? 0 : te.rfind(',') + 1))) != "chunked")
            return r.error = "unknown Transfer-Encoding", r.body = head, false;
        r.framing = "chunked";
        for (;;) {
            if (!in.line(0, eol)) return r.error = "incomplete chunk size", r.body = in.buf, false;
            std::string size_line = in.buf.substr(0, eol);
            in.buf.erase(0, eol + 2);
            const auto semi = size_line.find(';');
            if (semi != std::string::npos) {
                r.chunk_ext += size_line.substr(semi);
                size_line.erase(semi);
            }
            size_line = trim(size_line);
            if (size_line.empty() || size_line.size() > 15 ||
                size_line.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
                return r.error = "bad chunk size '" + size_line + "'", r.body = in.buf, false;
            const std::size_t size = std::stoul(size_line, nullptr, 16);
            if (size == 0) break;
            while (in.buf.size() < size + 2)
                if (!in.more()) return r.error = "incomplete chunk", r.body = in.buf, false;
            if (in.buf.compare(size, 2, "\r\n") != 0) return r.error = "chunk without CRLF", r.body = in.buf, false;
            r.body += in.buf.substr(0, size);
            in.buf.erase(0, size + 2);
        }
        for (;;) {  // trailer section, up to the empty line
            if (!in.line(0, eol)) return r.error = "incomplete trailers", r.body = in.buf, false;
            if (eol == 0) break;
            r.trailers += in.buf.substr(0, eol + 2);
            in.buf.erase(0, eol + 2);
        }
        in.buf.erase(0, 2);
    } else if (!cl.empty()) {
        if (cl.find_first_not_of("0123456789") != std::string::npos || cl.size() > 15)
            return r.error = "bad Content-Length", r.body = head, false;
        r.framing = "length";
        const std::size_t n = std::stoul(cl);
        while (in.buf.size() < n)
            if (!in.more()) return r.error = "incomplete body", r.body = in.buf, false;
        r.body = in.buf.substr(0, n);
        in.buf.erase(0, n);
    } else {
        r.framing = "none";
    }
    return true;
}

// The answer the request's `r=` asks for; `close` says whether to close after it.
std::string answer(const Received& r, bool& close) {
    std::string kind = query_param(r.target, "r");
    if (kind.empty()) kind = "cl";
    const bool head = r.method == "HEAD";
    const bool v10 = r.version == "HTTP/1.0";
    const std::string conn = r.header("connection");
    close = has_token(conn, "close") || (v10 && !has_token(conn, "keep-alive"));
    if (kind == "chunked" && v10) kind = "eof";  // a 1.0 client cannot read chunks

    std::string body = r.method + " " + std::to_string(r.body.size()) + "\n";
    if (kind == "big") {
        body.resize(64 * 1024);
        for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
    }
    std::string ours = "X-From: backend\r\nX-Target: " + r.target + "\r\n";
    if (kind == "eof") {
        close = true;
        return "HTTP/1.0 200 OK\r\n" + ours + "\r\n" + (head ? "" : body);
    }
    if (kind == "early" || kind == "early-rst") {
        close = true;
        return "HTTP/1.1 200 OK\r\n" + ours + "Connection: close\r\nContent-Length: 6\r\n\r\n" + (head ? "" : "early\n");
    }
    if (kind == "clte")  // a response smuggling attempt from the backend
        return "HTTP/1.1 200 OK\r\n" + ours + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" +
               (head ? "" : "5\r\nhello\r\n0\r\n\r\n");
    if (kind == "2cl")
        return "HTTP/1.1 200 OK\r\n" + ours + "Content-Length: 3\r\nContent-Length: 5\r\n\r\n" + (head ? "" : "hello");
    if (kind == "close" || kind == "drop") close = true;
    if (kind == "close" || (close && kind != "drop")) ours += "Connection: close\r\n";
    else if (v10) ours += "Connection: keep-alive\r\n";
    if (kind == "204") return "HTTP/1.1 204 No Content\r\n" + ours + "\r\n";
    if (kind == "304") return "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n" + ours + "\r\n";
    // 304 with the length of the representation it stands for: no body follows.
    if (kind == "304cl") return "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 100\r\n" + ours + "\r\n";
    if (kind == "interim") {  // 100 Continue and 103 Early Hints before the answer
        return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
               "HTTP/1.1 200 OK\r\n" + ours + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
               (head ? "" : body);
    }
    if (kind == "chunked") {
        std::string out = "HTTP/1.1 200 OK\r\n" + ours + "Transfer-Encoding: chunked\r\n\r\n";
        if (head) return out;
        const std::size_t third = body.size() / 3 + 1;
        for (std::size_t at = 0; at < body.size(); at += third) {
            const std::string part = body.substr(at, third);
            char hex[16];
            std::snprintf(hex, sizeof hex, "%zx\r\n", part.size());
            out += hex + part + "\r\n";
        }
        return out + "0\r\n\r\n";
    }
    const std::string status = kind == "500" ? "500 Internal Server Error" : "200 OK";
    return "HTTP/1.1 " + status + "\r\n" + ours + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
           (head ? "" : body);
}

bool send_all(int fd, const std::string& bytes) {
    std::size_t at = 0;
    while (at < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
        if (n <= 0) return false;
        at += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::string Received::header(const std::string& lower_name) const {
    for (const auto& [n, v] : headers)
        if (n == lower_name) return v;
    return "";
}

int Received::count(const std::string& lower_name) const {
    return static_cast<int>(std::count_if(headers.begin(), headers.end(),
                                          [&](const auto& h) { return h.first == lower_name; }));
}

std::string Received::summary() const {
    if (truncated) return "conn " + std::to_string(conn) + " " + printable(method + " " + target, 80) + " TRUNCATED (" + error + ")";
    if (!error.empty()) return "conn " + std::to_string(conn) + " NOT A REQUEST (" + error + "): " + printable(body, 120);
    std::string s = "conn " + std::to_string(conn) + " " + printable(method, 40) + " " + printable(target, 80) + " " +
                    version + " framing=" + framing + " body=" + std::to_string(body.size());
    if (!chunk_ext.empty()) s += " ext=" + chunk_ext;
    if (!trailers.empty()) s += " trailers=" + std::to_string(trailers.size());
    return s;
}

Recorder::Recorder() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 512) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("recorder: cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

Recorder::~Recorder() {
    stop_ = true;
    acceptor_.join();
    std::unique_lock lk(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    // Connection threads are detached; each polls `stop_` at least every 100 ms.
    cv_.wait(lk, [&] { return live_threads_ == 0; });
    ::close(listen_fd_);
}

void Recorder::accept_loop() {
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::lock_guard lk(mu_);
        open_fds_.insert(fd);
        ++live_threads_;
        std::thread([this, fd, conn = ++next_conn_] { serve(fd, conn); }).detach();
    }
}

void Recorder::serve(int fd, unsigned conn) {
    Input in(fd, stop_);
    for (;;) {
        Received r;
        r.conn = conn;
        const bool ok = read_request(in, r);
        if (!ok && r.error.empty()) break;  // clean EOF between requests
        r.truncated = !ok && r.error.rfind("incomplete", 0) == 0;
        bool close = true;
        const std::string out = ok ? answer(r, close) : "";
        const bool unread = r.framing == "unread", rst = query_param(r.target, "r") == "early-rst";
        record(std::move(r));
        if (!ok || !send_all(fd, out) || close) {
            // An early answer: `early` then reads and drops what the proxy
            // still sends (as a polite server does), `early-rst` closes with
            // it unread, which resets the connection.
            if (unread && !rst) {
                ::shutdown(fd, SHUT_WR);
                for (int idle = 0; idle < 10 && !stop_;) {
                    pollfd p{fd, POLLIN, 0};
                    if (::poll(&p, 1, 100) == 0) { ++idle; continue; }
                    char tmp[4096];
                    if (::recv(fd, tmp, sizeof tmp, 0) <= 0) break;
                }
            }
            break;
        }
    }
    std::lock_guard lk(mu_);
    open_fds_.erase(fd);
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    --live_threads_;
    cv_.notify_all();
}

void Recorder::record(Received r) {
    std::lock_guard lk(mu_);
    seen_.push_back(std::move(r));
    cv_.notify_all();
}

std::vector<Received> Recorder::take() {
    std::lock_guard lk(mu_);
    return std::exchange(seen_, {});
}

std::size_t Recorder::count() const {
    std::lock_guard lk(mu_);
    return seen_.size();
}

bool Recorder::wait_target(const std::string& prefix, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] {
        return std::any_of(seen_.begin(), seen_.end(), [&](const Received& r) { return r.target.rfind(prefix, 0) == 0; });
    });
}

}  // namespace conformance
