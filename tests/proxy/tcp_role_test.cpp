// Role pools (`[upstream:x] role = primary|replica`) as vigil-proxy sees
// them: every member held until vigild's first push, a client connecting
// meanwhile waits instead of being refused, also across a proxy restart on
// a socket vigild holds; config errors with file:line; bad admin input.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

#include "harness.hpp"

using namespace proxytest;

namespace {

// Two kind = redis programs (vigil-proxy only reads their address) in a
// role = primary pool behind a TCP listener.
std::string role_config(const Backend& a, const Backend& b, const std::string& listen = "127.0.0.1:{PORT}") {
    return "[program:r1]\nkind = redis\ndata_dir = {DIR}/r1\naddress = " + a.address() +
           "\n\n[program:r2]\nkind = redis\ndata_dir = {DIR}/r2\naddress = " + b.address() +
           "\n\n[upstream:cache]\nservers = r1 r2\nrole = primary\n\n[proxy:cache]\nmode = tcp\nlisten = " + listen +
           "\nroute = cache\nconnect_timeout = 10s\n";
}

std::string set_state(const Proxy& p, const std::string& server, const std::string& state) {
    auto r = admin_call(p.admin, "POST", "/v1/pools/cache/servers/" + server + "/state", R"({"state":")" + state + "\"}");
    return r ? std::to_string(r->status) + " " + r->body : "unreachable";
}

// The errors `vigil-proxy --check` prints for `sections`, with its exit status.
std::pair<std::string, int> check(const std::string& sections) {
    TempDir d;
    const std::string ini = d.path + "/bad.ini";
    std::ofstream(ini) << "[vigil]\nstate_dir = " << d.path << "\n[program:proxy]\nkind = proxy\n" << sections;
    Child c({VIGIL_PROXY_PATH, "-c", ini, "--check"});
    c.wait_line("\x01 never printed", 5000ms);  // reads all of its output, until EOF
    const int st = c.wait_exit(5000ms);
    return {c.output(), st == -1 ? -1 : WEXITSTATUS(st)};
}

}  // namespace

TEST_CASE("tcp role pool: members are held until vigild's first push, a client waits, then reaches the primary",
          "[tcp][role]") {
    Backend a = start_echo("a"), b = start_echo("b");
    auto p = start_proxy(role_config(a, b));
    auto pool = admin_call(p->admin, "GET", "/v1/pools/cache");
    REQUIRE(pool);
    CHECK(pool->body.find("\"role\":\"primary\"") != std::string::npos);
    CHECK(pool->body.find("\"held\":true") != std::string::npos);
    CHECK(pool->body.find("\"state\":\"up\"") == std::string::npos);

    auto c = Conn::tcp(p->port);
    REQUIRE(c);
    CHECK(c->read_for(300ms).empty());  // held: nobody answers, and nobody closes
    CHECK(set_state(*p, "r2", "down").starts_with("200"));
    CHECK(c->read_for(200ms).empty());  // r2 is not the primary; r1 still held
    CHECK(set_state(*p, "r1", "up").starts_with("200"));
    CHECK(c->read_until("\n", 3000ms) == "HELLO a\n");
    pool = admin_call(p->admin, "GET", "/v1/pools/cache");
    CHECK(pool->body.find("\"held\":true") == std::string::npos);

    // Failover as vigild pushes it: the old primary down first (its
    // clients cut), then the promoted one up; a client connecting in
    // between waits for it.
    CHECK(set_state(*p, "r1", "down").starts_with("200"));
    CHECK(c->closed(2000ms));
    auto during = Conn::tcp(p->port);
    REQUIRE(during);
    CHECK(set_state(*p, "r2", "up").starts_with("200"));
    CHECK(during->read_until("\n", 3000ms) == "HELLO b\n");
}

TEST_CASE("tcp role pool: a proxy restart on a socket vigild holds refuses no client", "[tcp][role][lifecycle]") {
    Backend a = start_echo("a"), b = start_echo("b");
    // The test holds the listening socket, as vigild does, and passes it
    // with systemd's protocol to each proxy it starts.
    const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);  // no CLOEXEC: the proxies inherit it
    REQUIRE(lfd >= 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(lfd, 128) == 0);
    socklen_t len = sizeof sa;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
    const int port = ntohs(sa.sin_port);

    TempDir d;
    const std::string ini = d.path + "/vigil.ini";
    std::string sections = role_config(a, b, "127.0.0.1:" + std::to_string(port));
    for (std::size_t at; (at = sections.find("{DIR}")) != std::string::npos;) sections.replace(at, 5, d.path);
    std::ofstream(ini) << "[vigil]\nstate_dir = " << d.path << "\n[program:proxy]\nkind = proxy\n\n" << sections;
    const std::string admin = d.path + "/proxy.sock";
    auto start = [&] {
        // bash: the socket becomes fd 3 and LISTEN_PID the proxy's own pid.
        const std::string move = lfd == 3 ? "" : "exec 3<&" + std::to_string(lfd) + " " + std::to_string(lfd) + "<&-; ";
        const std::string cmd = move + "LISTEN_PID=$$ LISTEN_FDS=1 exec '" VIGIL_PROXY_PATH "' -c '" + ini +
                                "' --admin '" + admin + "' --workers 2";
        auto c = std::make_unique<Child>(std::vector<std::string>{"/bin/bash", "-c", cmd});
        REQUIRE(c->wait_line("(socket held by vigild)", 10000ms));
        REQUIRE(c->wait_line("ready:", 10000ms));
        return c;
    };
    auto push_up = [&](const std::string& server) {
        auto r = admin_call(admin, "POST", "/v1/pools/cache/servers/" + server + "/state", R"({"state":"up"})");
        return r && r->status == 200;
    };

    auto first = start();
    REQUIRE(push_up("r1"));
    auto before = Conn::tcp(port);
    REQUIRE(before);
    CHECK(before->read_until("\n") == "HELLO a\n");

    first->signal(SIGKILL);
    REQUIRE(first->wait_exit(5000ms) != -1);
    CHECK(before->closed(2000ms));
    // No proxy at all now: the connection waits in the held socket's backlog.
    auto during = Conn::tcp(port);
    REQUIRE(during);
    auto second = start();
    CHECK(during->read_for(200ms).empty());  // r1 held again until vigild says
    REQUIRE(push_up("r1"));
    CHECK(during->read_until("\n", 3000ms) == "HELLO a\n");
    ::close(lfd);
}

TEST_CASE("tcp and role config errors name file:line", "[tcp][config]") {
    const std::string prog = "[program:r1]\nkind = redis\ndata_dir = /tmp/vigil-r1\naddress = 127.0.0.1:7001\n";
    const std::string proc = "[program:web]\ncommand = /bin/true\naddress = 127.0.0.1:7002\n";
    // Line numbers count the 4 lines check() puts first.
    auto [out, st] = check("[upstream:u]\nservers = 127.0.0.1:1\n[proxy:p]\nmode = tcp\nlisten = 127.0.0.1:1\nroute = / u\n");
    CHECK(st == 2);
    CHECK(out.find("bad.ini:10: route: mode = tcp takes one route = UPSTREAM, without a path; got '/ u'") != std::string::npos);

    std::tie(out, st) = check("[upstream:u]\nservers = 127.0.0.1:1\n[proxy:p]\nmode = tcp\nlisten = 127.0.0.1:1\nroute = u\n"
                              "tls_cert = /c.pem\ntls_key = /k.pem\nrate_limit = 10/s\n");
    CHECK(st == 2);
    CHECK(out.find("bad.ini:11: tls_cert: not with mode = tcp") != std::string::npos);
    CHECK(out.find("bad.ini:13: rate_limit: not with mode = tcp") != std::string::npos);

    std::tie(out, st) = check(proc + "[upstream:u]\nservers = web\nrole = primary\n"
                              "[proxy:p]\nmode = tcp\nlisten = 127.0.0.1:1\nroute = u\n");
    CHECK(st == 2);
    CHECK(out.find("bad.ini:10: [upstream:u] role = primary needs servers that are kind = postgres or kind = redis "
                   "programs; 'web' is kind = process") != std::string::npos);

    std::tie(out, st) = check(prog + "[upstream:u]\nservers = r1\nrole = replica\n"
                              "[proxy:p]\nlisten = 127.0.0.1:1\nroute = / u\n");
    CHECK(st == 2);
    CHECK(out.find("bad.ini:14: route: [upstream:u] has role = replica") != std::string::npos);

    std::tie(out, st) = check("[upstream:u]\nservers = 127.0.0.1:1\n[proxy:p]\nlisten = 127.0.0.1:1\nroute = / u\n"
                              "idle_timeout = 5s\n");
    CHECK(st == 2);
    CHECK(out.find("bad.ini:10: idle_timeout: only with mode = tcp") != std::string::npos);

    std::tie(out, st) = check(prog + "[upstream:u]\nservers = r1\nrole = primary\n"
                              "[proxy:p]\nmode = tcp\nlisten = 127.0.0.1:1\nroute = u\n");
    CHECK(st == 0);
}

TEST_CASE("tcp role pool: bad admin input gets an error reply", "[tcp][role][admin]") {
    Backend a = start_echo("a"), b = start_echo("b");
    auto p = start_proxy(role_config(a, b));
    CHECK(set_state(*p, "r1", "held").starts_with("400"));
    CHECK(set_state(*p, "r1", "primary").starts_with("400"));
    CHECK(set_state(*p, "nobody", "up").starts_with("404"));
    auto r = admin_call(p->admin, "PUT", "/v1/pools/cache",
                        R"({"servers":[{"name":"r1","address":")" + a.address() + R"(","state":"leader"}]})");
    REQUIRE(r);
    CHECK(r->status == 400);
    // The pool is as it was: r1 still held.
    CHECK(admin_call(p->admin, "GET", "/v1/pools/cache/servers/r1")->body.find("\"held\":true") != std::string::npos);
    // vigild's own PUT (a resync) carries each member's state: that counts as its word.
    r = admin_call(p->admin, "PUT", "/v1/pools/cache",
                   R"({"servers":[{"name":"r1","address":")" + a.address() + R"(","state":"up"},{"name":"r3","address":")" +
                       b.address() + R"("}]})");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(admin_call(p->admin, "GET", "/v1/pools/cache/servers/r1")->body.find("\"held\":false") != std::string::npos);
    auto r3 = admin_call(p->admin, "GET", "/v1/pools/cache/servers/r3");
    CHECK(r3->body.find("\"held\":true") != std::string::npos);  // new to a role pool, no state given: held
}
