#include "client.hpp"
#include "text.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <thread>
#include <utility>

namespace conformance {
namespace {

using Clock = std::chrono::steady_clock;
// Between two pieces of a split write: long enough that a proxy on the same
// host has read the first piece before the next arrives, so each piece is
// really parsed on its own. Pacing of the client, not a wait for a state.
constexpr auto pace = std::chrono::microseconds(1000);

class Connection {
public:
    explicit Connection(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd_);
            fd_ = -1;
            return;
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~Connection() {
        if (fd_ >= 0) ::close(fd_);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    bool ok() const { return fd_ >= 0; }
    void half_close() { ::shutdown(fd_, SHUT_WR); }
    bool eof() const { return eof_; }

    bool write(const std::string& bytes) {
        std::size_t at = 0;
        while (at < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
            if (n <= 0) return false;
            at += static_cast<std::size_t>(n);
        }
        return true;
    }

    // Reads what arrives before `deadline`; false on EOF, error or deadline.
    bool fill(Clock::time_point deadline) {
        if (eof_) return false;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, left < 0 ? 0 : static_cast<int>(left)) <= 0) return false;
        char tmp[16384];
        const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        buf.append(tmp, static_cast<std::size_t>(n));
        return true;
    }

    bool line(std::size_t& eol, Clock::time_point deadline) {
        while ((eol = buf.find("\r\n")) == std::string::npos)
            if (!fill(deadline)) return false;
        return true;
    }

    // One response; 1xx before it are counted in `interim` (unless stop_at_interim).
    std::string read_response(bool head_request, Reply& r, Clock::time_point deadline, bool stop_at_interim = false) {
        for (;;) {
            std::size_t end;
            while ((end = buf.find("\r\n\r\n")) == std::string::npos)
                if (!fill(deadline)) return eof_ ? (buf.empty() ? "closed" : "closed mid-head") : "timeout";
            const std::string head = buf.substr(0, end + 2);
            buf.erase(0, end + 4);
            if (head.compare(0, 7, "HTTP/1.") != 0 || head.size() < 12) return "bad status line: " + head.substr(0, 40);
            r.status = std::stoi(head.substr(9, 3));
            r.headers.clear();
            std::size_t at = head.find("\r\n") + 2;
            while (at < head.size()) {
                const std::size_t next = head.find("\r\n", at);
                const std::string l = head.substr(at, next - at);
                at = next + 2;
                const auto colon = l.find(':');
                if (colon == std::string::npos) return "bad header line: " + l;
                auto& v = r.headers[lower(l.substr(0, colon))];
                v += (v.empty() ? "" : ", ") + trim(l.substr(colon + 1));
            }
            const std::string conn = lower(r.header("connection"));
            r.keep_alive = head[7] == '1' ? conn.find("close") == std::string::npos
                                          : conn.find("keep-alive") != std::string::npos;
            if (r.status >= 100 && r.status < 200) {
                ++r.interim;
                if (stop_at_interim) return "";
                continue;
            }
            break;
        }
        r.body.clear();
        if (head_request || r.status == 204 || r.status == 304) {
            r.framing = "none";
        } else if (lower(r.header("transfer-encoding")) == "chunked") {
            r.framing = "chunked";
            for (;;) {
                std::size_t eol;
                if (!line(eol, deadline)) return "chunk size: " + std::string(eof_ ? "closed" : "timeout");
                const std::size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
                buf.erase(0, eol + 2);
                if (size == 0) break;
                while (buf.size() < size + 2)
                    if (!fill(deadline)) return "chunk data: " + std::string(eof_ ? "closed" : "timeout");
                r.body += buf.substr(0, size);
                buf.erase(0, size + 2);
            }
            for (;;) {
                std::size_t eol;
                if (!line(eol, deadline)) return "trailers: timeout";
                buf.erase(0, eol + 2);
                if (eol == 0) break;
            }
        } else if (r.headers.count("content-length")) {
            r.framing = "length";
            const std::size_t n = std::stoul(r.header("content-length"));
            while (buf.size() < n)
                if (!fill(deadline)) return "body: " + std::string(eof_ ? "closed" : "timeout");
            r.body = buf.substr(0, n);
            buf.erase(0, n);
        } else {
            r.framing = "close";
            while (!eof_)
                if (!fill(deadline) && !eof_) return "close-delimited body: timeout";
            r.body = std::exchange(buf, {});
        }
        return "";
    }

    std::string buf;

private:
    int fd_ = -1;
    bool eof_ = false;
};

// A slow client, as the sequence asks: each piece goes out `pace` after the
// last, so that the proxy reads them separately. This paces the client; it
// does not wait for a state (the proxy shows no event per partial read: a
// partial head is not forwarded), and nothing is asserted on the timing.
bool paced_write(Connection& c, const Step& s) {
    if (s.bytewise) {
        for (std::size_t i = 0; i < s.bytes.size(); ++i) {
            if (i) std::this_thread::sleep_for(pace);
            if (!c.write(s.bytes.substr(i, 1))) return false;
        }
        return true;
    }
    std::size_t from = 0;
    for (std::size_t cut : s.cuts) {
        if (!c.write(s.bytes.substr(from, cut - from))) return false;
        std::this_thread::sleep_for(pace);
        from = cut;
    }
    return c.write(s.bytes.substr(from));
}

}  // namespace

Step send(std::string bytes) { return {Step::Kind::send, std::move(bytes), {}, false}; }
Step send_split(std::string bytes, std::vector<std::size_t> cuts) {
    return {Step::Kind::send, std::move(bytes), std::move(cuts), false};
}
Step send_bytewise(std::string bytes) { return {Step::Kind::send, std::move(bytes), {}, true}; }
Step read() { return {Step::Kind::read, "", {}, false}; }
Step read_head() { return {Step::Kind::read_head, "", {}, false}; }
Step expect_100() { return {Step::Kind::expect_100, "", {}, false}; }
Step half_close() { return {Step::Kind::half_close, "", {}, false}; }

Outcome run_script(int port, const std::vector<Step>& steps, bool probe_close, const std::string& probe,
                   std::chrono::milliseconds timeout) {
    Outcome o;
    Connection c(port);
    if (!c.ok()) {
        o.error = "connect failed";
        return o;
    }
    int reads = 0;
    bool write_failed = false;
    for (const Step& s : steps) {
        const auto deadline = Clock::now() + timeout;
        if (s.kind == Step::Kind::half_close) {
            c.half_close();
            continue;
        }
        if (s.kind == Step::Kind::send) {
            // A proxy that answered and closed may refuse the rest: not an
            // error of the script; what it answered is still read.
            if (!write_failed && !paced_write(c, s)) write_failed = true;
            continue;
        }
        Reply r;
        ++reads;
        const bool interim_only = s.kind == Step::Kind::expect_100;
        const std::string err = c.read_response(s.kind == Step::Kind::read_head, r, deadline, interim_only);
        if (!err.empty()) {
            o.error = "read " + std::to_string(reads) + ": " + err;
            break;
        }
        if (interim_only) {
            if (r.interim != 1 || r.status != 100) {
                o.error = "expected 100 Continue, got " + std::to_string(r.status);
                o.replies.push_back(r);
                break;
            }
            continue;
        }
        o.replies.push_back(std::move(r));
    }
    const bool said_close = !o.replies.empty() && !o.replies.back().keep_alive;
    if (probe_close) {
        const auto deadline = Clock::now() + timeout;
        while (c.fill(deadline)) {
        }
    } else if (o.error.empty() && !c.eof() && !probe.empty() && !said_close) {
        // A request of our own on the same connection: it must get its own
        // answer, so a response left over from a smuggled request shows.
        if (c.write(probe)) {
            o.error = c.read_response(false, o.probe, Clock::now() + timeout);
            if (!o.error.empty()) o.error = "probe: " + o.error;
        }
    }
    c.fill(Clock::now());  // stray bytes already there
    o.closed = c.eof();
    o.extra = c.buf;
    return o;
}

Reply one_request(int port, const std::string& bytes, bool head) {
    Outcome o = run_script(port, {send(bytes), head ? read_head() : read()}, false, "");
    if (o.replies.empty()) return Reply{};
    return o.replies.front();
}

std::string describe(const Outcome& o) {
    std::string s;
    for (const Reply& r : o.replies)
        s += std::to_string(r.status) + (r.keep_alive ? "" : "(close)") + " " + r.framing + " [" +
             printable(r.body, 40) + "] ";
    if (!o.error.empty()) s += "error: " + o.error + " ";
    if (o.closed) s += "closed ";
    if (!o.extra.empty()) s += "extra bytes: " + printable(o.extra, 80);
    return s;
}

}  // namespace conformance
