// vigild driving a real vigil-proxy: pool members go up and down with their
// state and health, a restarted proxy is brought up to date, and a failed
// handover leaves the old proxy serving.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

using namespace vigil::test;
using json = nlohmann::json;

namespace {

std::string backend(const std::string& name, int port) {
    const std::string p = std::to_string(port);
    return "[program:" + name + "]\ncommand = " + std::string(VIGIL_PROXY_BACKEND_PATH) + " --port " + p +
           " --name " + name + "\naddress = 127.0.0.1:" + p + "\nstartsecs = 0\nhealthcheck = tcp://127.0.0.1:" + p +
           "\nhealth_interval = 100ms\nhealth_timeout = 1s\nhealth_retries = 1\n\n";
}

// The state vigil-proxy reports for `server`, via vigilctl upstreams.
std::string proxy_state(const Vigild& v, const std::string& server) {
    std::string out;
    if (v.ctl({"upstreams", "--json"}, &out) != 0) return "unreachable";
    const json j = json::parse(out);  // kept alive for the loop below
    for (const auto& pool : j["pools"])
        for (const auto& s : pool["servers"])
            if (s["name"] == server) return s["state"];
    return "absent";
}

// Polls with a deadline: the push to the proxy is asynchronous.
bool proxy_state_becomes(const Vigild& v, const std::string& server, const std::string& state, Ms timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline)
        if ((last = proxy_state(v, server)) == state) return true;
    UNSCOPED_INFO(server << " stayed " << last << ", wanted " << state);
    return false;
}

std::string backend_behind(int proxy_port) {
    std::string out;
    run({"curl", "-s", "-m", "5", "-D", "-", "http://127.0.0.1:" + std::to_string(proxy_port) + "/x"}, &out);
    std::smatch m;
    return std::regex_search(out, m, std::regex("X-Backend: ([a-z0-9]+)", std::regex::icase)) ? m[1].str() : "none";
}

}  // namespace

TEST_CASE("proxy link: members follow their state and health, a restarted proxy is resynced", "[proxy-link]") {
    const int p1 = free_port(), p2 = free_port(), listen = free_port();
    Vigild v(backend("b1", p1) + backend("b2", p2) + "[upstream:pool]\nservers = b1 b2\n\n[proxy:main]\nlisten = 127.0.0.1:" +
             std::to_string(listen) + "\nroute = / pool\n\n[program:proxy]\nkind = proxy\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("b1: up in pool pool"));
    REQUIRE((v.find_line("b2: up in pool pool") || v.expect("b2: up in pool pool")));
    CHECK(proxy_state_becomes(v, "b1", "up"));
    CHECK(proxy_state_becomes(v, "b2", "up"));

    std::string out;
    REQUIRE(v.ctl({"stop", "b1"}, &out) == 0);
    CHECK(v.expect("b1: down in pool pool"));
    CHECK(proxy_state_becomes(v, "b1", "down"));
    for (int i = 0; i < 6; ++i) CHECK(backend_behind(listen) == "b2");

    REQUIRE(v.ctl({"start", "b1"}, &out) == 0);
    CHECK(v.expect("b1: up in pool pool"));  // only once healthy
    CHECK(proxy_state_becomes(v, "b1", "up"));

    // A restarted proxy starts from its INI; vigild pushes its view again.
    REQUIRE(v.ctl({"stop", "b2"}, &out) == 0);
    CHECK(proxy_state_becomes(v, "b2", "down"));
    std::string pid;
    REQUIRE(v.ctl({"pid", "proxy"}, &pid) == 0);
    REQUIRE(::kill(std::stoi(pid), SIGKILL) == 0);
    REQUIRE(v.expect("proxy: proxy started \\(pid [0-9]+\\), pushing"));
    CHECK(proxy_state_becomes(v, "b2", "down"));
    CHECK(proxy_state_becomes(v, "b1", "up"));
    CHECK(backend_behind(listen) == "b1");

    // vigild's /metrics carries the proxy's series too.
    const std::string m = raw_exchange(v.socket_path(), "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(m.find("vigil_proxy_") != std::string::npos);
    CHECK(m.find("vigil_program_up{name=\"b1\"} 1") != std::string::npos);
}

TEST_CASE("proxy link: a push the proxy never got is sent again by the reconcile", "[proxy-link]") {
    const int p1 = free_port(), p2 = free_port(), listen = free_port();
    Vigild v(backend("b1", p1) + backend("b2", p2) + "[upstream:pool]\nservers = b1 b2\n\n[proxy:main]\nlisten = 127.0.0.1:" +
             std::to_string(listen) + "\nroute = / pool\n\n[program:proxy]\nkind = proxy\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("b1: up in pool pool"));
    REQUIRE(proxy_state_becomes(v, "b1", "up"));

    // The admin socket goes away for a moment: the "down" push cannot be
    // delivered. Once counted as done before it was sent, it was never
    // retried, and b1 stayed "up" in the proxy while stopped.
    const std::string sock = v.dir() / "state/proxy.sock", away = sock + ".away";
    REQUIRE(::rename(sock.c_str(), away.c_str()) == 0);
    std::string out;
    REQUIRE(v.ctl({"stop", "b1"}, &out) == 0);
    REQUIRE(v.expect("proxy admin POST /v1/pools/pool/servers/b1/state: "));
    REQUIRE(::rename(away.c_str(), sock.c_str()) == 0);
    CHECK(v.expect("b1: the proxy has it up in pool pool, vigild wants down: pushing again", 10s));
    CHECK(proxy_state_becomes(v, "b1", "down"));
    CHECK(proxy_state_becomes(v, "b2", "up"));
}

TEST_CASE("proxy link: vigild holds the proxy's listening socket, so a killed proxy refuses no connection",
          "[proxy-link]") {
    const int p1 = free_port(), listen = free_port();
    Vigild v(backend("b1", p1) + "[upstream:pool]\nservers = b1\n\n[proxy:main]\nlisten = 127.0.0.1:" +
             std::to_string(listen) + "\nroute = / pool\n\n[program:proxy]\nkind = proxy\nstartsecs = 0\n"
             "backoff = 300ms,1,300ms\n");
    v.start();
    REQUIRE(v.expect("proxy: holding tcp://127.0.0.1:" + std::to_string(listen)));
    REQUIRE(v.expect("b1: up in pool pool"));
    CHECK(proxy_state_becomes(v, "b1", "up"));
    CHECK(read_file(v.dir() / "log/proxy.err.log").find("(socket held by vigild)") != std::string::npos);

    std::string pid;
    REQUIRE(v.ctl({"pid", "proxy"}, &pid) == 0);
    REQUIRE(::kill(std::stoi(pid), SIGKILL) == 0);
    REQUIRE(wait_gone(std::stoi(pid)));
    // No proxy runs now (the backoff holds the next one for 300 ms), and the
    // connection is still accepted: it waits in vigild's socket and is
    // served by the next proxy.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const timeval bound{10, 0};  // the reads below end at the deadline, not hang
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(listen));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    const std::string req = "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    REQUIRE(::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(answer.find("b1") != std::string::npos);
}

TEST_CASE("proxy link: a new proxy that fails to start leaves the old one serving", "[proxy-link]") {
    const int p1 = free_port(), listen = free_port();
    const std::string head = backend("b1", p1) + "[upstream:pool]\nservers = b1\n\n[program:proxy]\nkind = proxy\n"
                             "\n[proxy:main]\nlisten = 127.0.0.1:" + std::to_string(listen) + "\nroute = / pool\n";
    Vigild v(head);
    v.start();
    REQUIRE(v.expect("b1: up in pool pool"));
    CHECK(proxy_state_becomes(v, "b1", "up"));
    std::string before;
    REQUIRE(v.ctl({"pid", "proxy"}, &before) == 0);

    // A certificate that is not there: vigil-proxy reads it only when it
    // starts, so the update hands over to a proxy that exits at once.
    std::string ini = read_file(v.config_path());
    ini += "tls_cert = " + (v.dir() / "missing.pem") + "\ntls_key = " + (v.dir() / "missing.key") + "\n";
    write_file(v.config_path(), ini);
    std::string out;
    v.ctl({"update"}, &out);
    REQUIRE(v.expect("handover given up: the new proxy did not start", 15s));
    std::string after;
    REQUIRE(v.ctl({"pid", "proxy"}, &after) == 0);
    CHECK(after == before);
    CHECK(backend_behind(listen) == "b1");  // the old proxy serves on
    CHECK(proxy_state_becomes(v, "b1", "up"));  // and still takes vigild's pushes
    CHECK_FALSE(v.find_line("proxy: RUNNING -> "));
}

TEST_CASE("proxy link: a mode = tcp listener's socket is held by vigild too, so a killed proxy refuses no client",
          "[proxy-link][tcp]") {
    const int p1 = free_port(), listen = free_port();
    const std::string p = std::to_string(p1);
    Vigild v("[program:echo]\ncommand = " + std::string(VIGIL_PROXY_BACKEND_PATH) + " --echo --name echo --port " + p +
             "\naddress = 127.0.0.1:" + p + "\nstartsecs = 0\nhealthcheck = tcp://127.0.0.1:" + p +
             "\nhealth_interval = 100ms\nhealth_timeout = 1s\nhealth_retries = 1\n\n[upstream:db]\nservers = echo\n\n"
             "[proxy:db]\nmode = tcp\nlisten = 127.0.0.1:" + std::to_string(listen) +
             "\nroute = db\n\n[program:proxy]\nkind = proxy\nstartsecs = 0\nbackoff = 300ms,1,300ms\n");
    v.start();
    REQUIRE(v.expect("proxy: holding tcp://127.0.0.1:" + std::to_string(listen)));
    REQUIRE(v.expect("echo: up in pool db"));
    CHECK(proxy_state_becomes(v, "echo", "up"));

    std::string pid;
    REQUIRE(v.ctl({"pid", "proxy"}, &pid) == 0);
    REQUIRE(::kill(std::stoi(pid), SIGKILL) == 0);
    REQUIRE(wait_gone(std::stoi(pid)));
    // No proxy now: the connection waits in vigild's socket, and the next
    // proxy relays it (the echo server greets, then echoes).
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const timeval bound{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(listen));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::write(fd, "ping\n", 5) == 5);
    ::shutdown(fd, SHUT_WR);  // the echo answers our EOF with its own
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    CHECK(answer == "HELLO echo\nping\n");
}
