// Test harness for vigil-proxy: child processes with captured output, a
// blocking HTTP client with deadlines, an admin-socket client, and a running
// proxy over a temp config. Every wait is on an event (a line printed, a
// byte received, an exit) with a deadline; nothing sleeps to wait for state.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxytest {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

class Child {
public:
    explicit Child(const std::vector<std::string>& argv);
    ~Child();
    Child(Child&& o) noexcept;
    Child(const Child&) = delete;

    // Waits for a line on stdout or stderr containing `needle`.
    std::optional<std::string> wait_line(std::string_view needle, ms timeout = 5000ms);
    void signal(int sig) const;
    // Waits for exit; returns the wait status, or -1 on timeout.
    int wait_exit(ms timeout = 5000ms);
    pid_t pid() const { return pid_; }
    const std::string& output() const { return seen_; }

private:
    bool pump(int timeout_ms);  // reads what is available; false on deadline/EOF
    pid_t pid_ = -1;
    int out_ = -1, err_ = -1;
    std::string buf_[2];
    std::vector<std::string> lines_;
    std::size_t scanned_ = 0;
    std::string seen_;
    bool exited_ = false;
};

struct Backend {
    Child proc;
    int port = 0;
    std::string name;
    std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};
Backend start_backend(const std::string& name);
// test_backend --echo: a raw TCP server for the mode = tcp tests.
Backend start_echo(const std::string& name, int port = 0);

int free_port();

struct TempDir {
    TempDir();
    ~TempDir();
    std::string path;
};

struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool keep_alive = true;
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? "" : it->second;
    }
};

// A blocking TCP (or Unix) connection with per-call deadlines.
class Conn {
public:
    static std::optional<Conn> tcp(int port);
    static std::optional<Conn> unix_socket(const std::string& path);
    Conn(Conn&& o) noexcept;
    Conn& operator=(Conn&& o) noexcept;
    ~Conn();
    bool send(std::string_view bytes);
    std::optional<Response> read_response(bool head_request = false, ms timeout = 5000ms);
    // True when the peer closes within the timeout (data before it is dropped).
    bool closed(ms timeout = 5000ms);
    // Raw bytes (mode = tcp tests): up to and including `needle`, removed
    // from what was read; nullopt on timeout or EOF first.
    std::optional<std::string> read_until(std::string_view needle, ms timeout = 5000ms);
    // Everything until the peer's EOF; nullopt when it does not come in time.
    std::optional<std::string> read_to_eof(ms timeout = 5000ms);
    // Whatever arrived within `timeout` (for "nothing came yet" checks).
    std::string read_for(ms timeout);
    void shutdown_write();
    int fd() const { return fd_; }

private:
    explicit Conn(int fd) : fd_(fd) {}
    bool fill(ms timeout);
    int fd_ = -1;
    std::string buf_;
    bool eof_ = false;
};

std::string get_request(const std::string& path, const std::string& extra_headers = "");
std::optional<Response> http_get(int port, const std::string& path, const std::string& extra_headers = "");
std::optional<Response> admin_call(const std::string& socket, const std::string& method, const std::string& path,
                                   const std::string& body = "");

// A vigil-proxy over a config made of `sections` (upstreams and proxies;
// [vigil] and the kind=proxy program are added). `{PORT}` in sections is
// replaced by the listener port chosen here.
struct Proxy {
    TempDir dir;
    std::optional<Child> proc;
    int port = 0;
    std::string admin;
    std::string ini;
};
std::unique_ptr<Proxy> start_proxy(const std::string& sections, const std::vector<std::string>& extra_args = {});

}  // namespace proxytest
