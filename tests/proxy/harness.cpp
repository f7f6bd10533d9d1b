#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "proxy/http_parse.hpp"

extern char** environ;

namespace proxytest {

using Clock = std::chrono::steady_clock;

static int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<ms>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

Child::Child(const std::vector<std::string>& argv) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) throw std::runtime_error("spawn " + argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
}

Child::Child(Child&& o) noexcept
    : pid_(o.pid_), out_(o.out_), err_(o.err_), lines_(std::move(o.lines_)), scanned_(o.scanned_),
      seen_(std::move(o.seen_)), exited_(o.exited_) {
    buf_[0] = std::move(o.buf_[0]);
    buf_[1] = std::move(o.buf_[1]);
    o.pid_ = -1;
    o.out_ = o.err_ = -1;
}

Child::~Child() {
    if (pid_ > 0 && !exited_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
    if (err_ >= 0) ::close(err_);
}

bool Child::pump(int timeout_ms) {
    pollfd p[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    int r = ::poll(p, 2, timeout_ms);
    if (r <= 0) return false;
    bool any = false;
    for (int i = 0; i < 2; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
        char tmp[4096];
        ssize_t n = ::read(p[i].fd, tmp, sizeof tmp);
        if (n <= 0) {
            // EOF on this pipe: stop polling it.
            ::close(p[i].fd);
            (i == 0 ? out_ : err_) = -1;
            continue;
        }
        any = true;
        buf_[i].append(tmp, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = buf_[i].find('\n')) != std::string::npos) {
            lines_.push_back(buf_[i].substr(0, nl));
            seen_ += lines_.back() + "\n";
            buf_[i].erase(0, nl + 1);
        }
    }
    return any || out_ >= 0 || err_ >= 0;
}

std::optional<std::string> Child::wait_line(std::string_view needle, ms timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        for (; scanned_ < lines_.size(); ++scanned_)
            if (lines_[scanned_].find(needle) != std::string::npos) return lines_[scanned_++];
        if (Clock::now() >= deadline || (out_ < 0 && err_ < 0)) return std::nullopt;
        pump(remaining_ms(deadline));
    }
}

void Child::signal(int sig) const {
    if (pid_ > 0 && !exited_) ::kill(pid_, sig);
}

int Child::wait_exit(ms timeout) {
    // pidfd would be nicer; polling the output pipes until EOF is the event
    // we can wait on (the child holds them until it exits).
    const auto deadline = Clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exited_ = true;
            return status;
        }
        if (Clock::now() >= deadline) return -1;
        if (out_ >= 0 || err_ >= 0) pump(std::min(remaining_ms(deadline), 50));
        else {
            // Pipes closed but not yet reaped: a blocking wait is bounded by the kernel.
            if (::waitpid(pid_, &status, 0) == pid_) { exited_ = true; return status; }
        }
    }
}

Backend start_backend(const std::string& name) {
    Backend b{Child({PROXY_BACKEND_PATH, "--name", name}), 0, name};
    auto line = b.proc.wait_line("PORT ");
    if (!line) throw std::runtime_error("backend did not start");
    b.port = std::stoi(line->substr(5));
    return b;
}

Backend start_echo(const std::string& name, int port) {
    Backend b{Child({PROXY_BACKEND_PATH, "--echo", "--name", name, "--port", std::to_string(port)}), 0, name};
    auto line = b.proc.wait_line("PORT ");
    if (!line) throw std::runtime_error("echo backend did not start");
    b.port = std::stoi(line->substr(5));
    return b;
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

TempDir::TempDir() {
    char tmpl[] = "/tmp/vigil-proxy-test-XXXXXX";
    path = ::mkdtemp(tmpl);
}
TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

// ---- connections -----------------------------------------------------------

std::optional<Conn> Conn::tcp(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return std::nullopt;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return Conn(fd);
}

std::optional<Conn> Conn::unix_socket(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return std::nullopt;
    }
    return Conn(fd);
}

Conn::Conn(Conn&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)), eof_(o.eof_) { o.fd_ = -1; }
Conn& Conn::operator=(Conn&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        buf_ = std::move(o.buf_);
        eof_ = o.eof_;
        o.fd_ = -1;
    }
    return *this;
}

Conn::~Conn() {
    if (fd_ >= 0) ::close(fd_);
}

bool Conn::send(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool Conn::fill(ms timeout) {
    if (eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
}

std::optional<Response> Conn::read_response(bool head_request, ms timeout) {
    using namespace vigil::proxy;
    const auto deadline = Clock::now() + timeout;
    auto head = std::make_unique<ResponseHead>();
    for (;;) {
        ParseResult pr = parse_response(buf_, 64 * 1024, head_request, *head);
        if (pr == ParseResult::ok && head->status >= 200) break;
        if (pr == ParseResult::ok) {  // interim
            buf_.erase(0, head->head_size);
            continue;
        }
        if (pr != ParseResult::incomplete) return std::nullopt;
        if (!fill(ms(remaining_ms(deadline)))) return std::nullopt;
    }
    Response r;
    r.status = head->status;
    r.keep_alive = head->keep_alive;
    for (std::size_t i = 0; i < head->header_count; ++i) {
        std::string name(head->headers[i].name);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(head->headers[i].value);
    }
    const BodyKind kind = head->body;
    const std::uint64_t length = head->content_length;
    buf_.erase(0, head->head_size);
    switch (kind) {
        case BodyKind::none: break;
        case BodyKind::length:
            while (buf_.size() < length)
                if (!fill(ms(remaining_ms(deadline)))) return std::nullopt;
            r.body = buf_.substr(0, length);
            buf_.erase(0, length);
            break;
        case BodyKind::chunked: {
            ChunkedScanner sc;
            std::size_t pos = 0;
            std::string raw;
            for (;;) {
                std::size_t used = 0;
                auto st = sc.feed(buf_.data() + pos, buf_.size() - pos, used);
                pos += used;
                if (st == ChunkedScanner::Status::done) break;
                if (st != ChunkedScanner::Status::more) return std::nullopt;
                if (!fill(ms(remaining_ms(deadline)))) return std::nullopt;
            }
            // Decode the chunks for the caller.
            std::string_view s(buf_.data(), pos);
            while (true) {
                auto le = s.find("\r\n");
                std::size_t n = std::stoul(std::string(s.substr(0, le)), nullptr, 16);
                s.remove_prefix(le + 2);
                if (n == 0) break;
                r.body.append(s.substr(0, n));
                s.remove_prefix(n + 2);
            }
            buf_.erase(0, pos);
            break;
        }
        case BodyKind::until_close:
            while (fill(ms(remaining_ms(deadline)))) {
            }
            if (!eof_) return std::nullopt;
            r.body = std::move(buf_);
            buf_.clear();
            break;
    }
    return r;
}

bool Conn::closed(ms timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!eof_) {
        if (Clock::now() >= deadline) return false;
        fill(ms(remaining_ms(deadline)));
    }
    return true;
}

std::optional<std::string> Conn::read_until(std::string_view needle, ms timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (auto at = buf_.find(needle); at != std::string::npos) {
            std::string out = buf_.substr(0, at + needle.size());
            buf_.erase(0, at + needle.size());
            return out;
        }
        if (!fill(ms(remaining_ms(deadline)))) return std::nullopt;
    }
}

std::optional<std::string> Conn::read_to_eof(ms timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!eof_) {
        if (Clock::now() >= deadline) return std::nullopt;
        fill(ms(remaining_ms(deadline)));
    }
    std::string out = std::move(buf_);
    buf_.clear();
    return out;
}

std::string Conn::read_for(ms timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline && fill(ms(remaining_ms(deadline)))) {
    }
    std::string out = std::move(buf_);
    buf_.clear();
    return out;
}

void Conn::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

std::string get_request(const std::string& path, const std::string& extra_headers) {
    return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

std::optional<Response> http_get(int port, const std::string& path, const std::string& extra_headers) {
    auto c = Conn::tcp(port);
    if (!c || !c->send(get_request(path, extra_headers))) return std::nullopt;
    return c->read_response();
}

std::optional<Response> admin_call(const std::string& socket, const std::string& method, const std::string& path,
                                   const std::string& body) {
    auto c = Conn::unix_socket(socket);
    if (!c) return std::nullopt;
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n";
    if (!body.empty() || method == "POST" || method == "PUT")
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    if (!c->send(req)) return std::nullopt;
    return c->read_response();
}

std::unique_ptr<Proxy> start_proxy(const std::string& sections, const std::vector<std::string>& extra_args) {
    auto p = std::make_unique<Proxy>();
    p->port = free_port();
    p->admin = p->dir.path + "/proxy.sock";
    std::string body = sections;
    for (std::size_t at; (at = body.find("{PORT}")) != std::string::npos;) body.replace(at, 6, std::to_string(p->port));
    for (std::size_t at; (at = body.find("{DIR}")) != std::string::npos;) body.replace(at, 5, p->dir.path);
    p->ini = p->dir.path + "/vigil.ini";
    std::ofstream(p->ini) << "[vigil]\ncontrol_socket = " << p->dir.path << "/vigil.sock\nstate_dir = " << p->dir.path
                          << "\nlog_dir = " << p->dir.path << "\n\n[program:proxy]\nkind = proxy\n\n"
                          << body;
    std::vector<std::string> argv{VIGIL_PROXY_PATH, "-c", p->ini, "--workers", "2"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    p->proc.emplace(argv);
    if (!p->proc->wait_line("ready:", 10000ms))
        throw std::runtime_error("vigil-proxy did not start:\n" + p->proc->output());
    return p;
}

}  // namespace proxytest
