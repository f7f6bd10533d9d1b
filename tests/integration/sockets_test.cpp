// Sockets vigild holds for programs (`sockets =`, [fcgi-program:x]): passed
// with systemd's protocol, kept open while the program is down so clients
// wait instead of being refused, kept or rebound by `update`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>

#include "harness.hpp"

using namespace vigil::test;

namespace {

std::string listen_child() { return std::string(VIGIL_CHILDREN_DIR) + "/listen_child"; }

// A connected socket to 127.0.0.1:port or a unix path; -1 when refused.
int connect_to(const std::string& where) {
    if (where.front() == '/') {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, where.c_str(), sizeof a.sun_path - 1);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
        ::close(fd);
        return -1;
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(where)));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    ::close(fd);
    return -1;
}

// Everything the server writes until it closes, or "" at the deadline.
std::string read_all(int fd, Ms timeout = 10s) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now()).count();
        pollfd p{fd, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
            out.clear();
            break;
        }
        char buf[256];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

std::string ask(const std::string& where) {
    const int fd = connect_to(where);
    return fd < 0 ? "refused" : read_all(fd);
}

std::string pid_in(const std::string& answer) {
    auto words = answer.substr(0, answer.find(" fd"));
    return words.rfind("pid ", 0) == 0 ? words.substr(4) : "";
}

}  // namespace

TEST_CASE("sockets: passed as LISTEN_FDS from fd 3 and named after the program with the unix mode applied", "[sockets]") {
    TempDir d;
    const std::string port = std::to_string(free_port());
    const std::string path = d / "svc.sock";
    Vigild v("[program:svc]\ncommand = " + listen_child() + "\nsockets = tcp://127.0.0.1:" + port + " unix://" +
             path + "\nsocket_mode = 0660\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("svc: STARTING -> RUNNING"));
    const std::string tcp = ask(port), unix_answer = ask(path);
    CHECK(tcp.find(" fd 3 name svc\n") != std::string::npos);
    CHECK(unix_answer.find(" fd 4 name svc\n") != std::string::npos);
    CHECK(pid_in(tcp) == pid_in(unix_answer));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0660);
    // The child's own checks (LISTEN_PID is its pid, nothing else inherited)
    // passed, or it would have exited 2 and not answered.
    CHECK_FALSE(v.find_line("listen_child: "));
    v.terminate();
    CHECK(::access(path.c_str(), F_OK) != 0);  // vigild removes the socket file it made
}

TEST_CASE("sockets: a crash-looping program keeps its port and a waiting client is served once it is up",
          "[sockets]") {
    TempDir d;
    const std::string port = std::to_string(free_port());
    Vigild v("[program:svc]\ncommand = /bin/sh -c 'test -f " + (d / "go") + " || exit 1; exec " + listen_child() +
             " --serve 1'\nsockets = tcp://127.0.0.1:" + port + "\nstartsecs = 0\nbackoff = 50ms,1,50ms\n");
    v.start();
    REQUIRE(v.expect("svc: .* -> BACKOFF"));
    REQUIRE(v.expect("svc: .* -> BACKOFF"));  // crashing again and again, and the port stays open:
    const int waiting = connect_to(port);
    REQUIRE(waiting >= 0);  // accepted by the kernel's backlog, not refused
    write_file(d / "go", "");
    const std::string first = read_all(waiting);
    CHECK(first.find(" fd 3 name svc\n") != std::string::npos);
    // It exits (3) after one connection and is started again: the next
    // client reaches the new process through the same socket.
    REQUIRE(v.expect("svc: RUNNING -> BACKOFF"));
    const std::string second = ask(port);
    REQUIRE(second.rfind("pid ", 0) == 0);
    CHECK(pid_in(second) != pid_in(first));
}

TEST_CASE("sockets: stopped by hand the socket stays and update keeps a kept address and rebinds a changed one",
          "[sockets]") {
    const std::string port = std::to_string(free_port()), port2 = std::to_string(free_port());
    auto program = [](const std::string& p, const std::string& extra) {
        return "[program:svc]\ncommand = " + listen_child() + extra + "\nsockets = tcp://127.0.0.1:" + p +
               "\nstartsecs = 0\n";
    };
    Vigild v(program(port, ""));
    v.start();
    REQUIRE(v.expect("svc: STARTING -> RUNNING"));
    REQUIRE(v.find_line("svc: holding tcp://127.0.0.1:" + port));

    REQUIRE(v.ctl({"stop", "svc"}) == 0);
    const int waiting = connect_to(port);
    REQUIRE(waiting >= 0);
    REQUIRE(v.ctl({"start", "svc"}) == 0);
    REQUIRE(v.expect("svc: STARTING -> RUNNING"));
    CHECK(read_all(waiting).find(" fd 3 name svc\n") != std::string::npos);

    // A changed command, the same address: the process is replaced, the
    // socket is not (no second "holding", no "closing").
    std::string cfg = read_file(v.config_path());
    const std::string head = cfg.substr(0, cfg.find("[program:"));
    write_file(v.config_path(), head + program(port, " --serve 1000"));
    std::size_t seen = v.line_count();
    REQUIRE(v.ctl({"update"}) == 0);
    REQUIRE(v.expect("svc: STARTING -> RUNNING"));
    CHECK_FALSE(v.find_line("holding tcp://127.0.0.1:" + port, seen));
    CHECK_FALSE(v.find_line("closing tcp://", seen));
    CHECK(ask(port).rfind("pid ", 0) == 0);

    // A changed address: the old socket is closed, the new one bound.
    write_file(v.config_path(), head + program(port2, " --serve 1000"));
    seen = v.line_count();
    REQUIRE(v.ctl({"update"}) == 0);
    REQUIRE(v.expect("svc: STARTING -> RUNNING"));
    CHECK(v.find_line("closing tcp://127.0.0.1:" + port, seen));
    CHECK(ask(port) == "refused");
    CHECK(ask(port2).find(" fd 3 name svc\n") != std::string::npos);
}

TEST_CASE("sockets: an address already taken is the program's spawn error and vigild goes on", "[sockets]") {
    const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(taken, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(taken, 1) == 0);
    REQUIRE(::getsockname(taken, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    const std::string port = std::to_string(ntohs(a.sin_port));
    Vigild v("[program:svc]\ncommand = " + listen_child() + "\nsockets = tcp://127.0.0.1:" + port +
             "\nstartsecs = 0\nbackoff = 50ms,1,50ms\n[program:other]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("svc: cannot listen on tcp://127.0.0.1:" + port + ": Address already in use"));
    REQUIRE(v.expect("other: STARTING -> RUNNING"));
    std::string out;
    v.ctl({"status", "svc"}, &out);
    CHECK(out.find("Address already in use") != std::string::npos);
    // Freed, the next attempt binds it and the program runs.
    ::close(taken);
    REQUIRE(v.expect("svc: STARTING -> RUNNING", 15s));
    CHECK(ask(port).find(" fd 3 name svc\n") != std::string::npos);
}

TEST_CASE("fcgi-program: supervisord's FastCGI pool shares one socket as fd 0", "[sockets]") {
    TempDir d;
    const std::string path = d / "fcgi.sock";
    Vigild v("[fcgi-program:app]\ncommand = " + listen_child() + " --stdin\nsocket = unix://" + path +
             "\nnumprocs = 2\nprocess_name = %(program_name)s_%(process_num)d\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("app_[01]: STARTING -> RUNNING"));
    REQUIRE(v.expect("app_[01]: STARTING -> RUNNING"));
    CHECK(v.log_text().find("holding unix://" + path) != std::string::npos);
    const std::string answer = ask(path);
    CHECK(answer.find(" fd 0 name stdin\n") != std::string::npos);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);  // supervisord's default socket_mode
}
