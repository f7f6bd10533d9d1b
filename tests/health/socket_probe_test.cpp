#include <catch2/catch.hpp>

#include <signal.h>

#include <memory>
#include <set>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include "tests/health/support.hpp"

using namespace vigil::health;
using namespace vigil::health::test;
using vigil::config::HealthKind;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

TEST_CASE("tcp probe: a listener passes, a closed port fails", "[tcp]") {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    auto p = make_probe(io, make_check(HealthKind::tcp, "127.0.0.1", acceptor.local_endpoint().port()));
    const auto r = run_probe(io, *p);
    CHECK(r.ok);
    CHECK(r.detail == "connected to 127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));

    const std::uint16_t port = acceptor.local_endpoint().port();
    acceptor.close();
    const auto down = run_probe(io, *p);
    CHECK_FALSE(down.ok);
    CHECK(down.detail == "connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

// A probe that passed keeps its socket for the next run (park_with_reset):
// every run must still be a fresh connection that sees the server as it is
// now, and each one is reset, never left in TIME_WAIT.
TEST_CASE("tcp probe: a kept socket connects afresh each run and sees the server come and go", "[tcp]") {
    asio::io_context io;
    auto acceptor = std::make_unique<tcp::acceptor>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const std::uint16_t port = acceptor->local_endpoint().port();
    auto p = make_probe(io, make_check(HealthKind::tcp, "127.0.0.1", port));
    std::set<std::uint16_t> peers;
    for (int i = 0; i < 3; ++i) {
        const auto r = run_probe(io, *p);
        CHECK(r.ok);
        tcp::socket peer(io);
        tcp::endpoint from;
        acceptor->accept(peer, from);  // one new connection per run, from its own port
        peers.insert(from.port());
        char c;
        boost::system::error_code ec;
        peer.read_some(asio::buffer(&c, 1), ec);
        CHECK(ec == asio::error::connection_reset);  // reset, as close_with_reset does
    }
    CHECK(peers.size() == 3);

    acceptor.reset();
    const auto down = run_probe(io, *p);
    CHECK_FALSE(down.ok);
    CHECK(down.detail == "connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");

    acceptor = std::make_unique<tcp::acceptor>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    for (int i = 0; i < 2; ++i) CHECK(run_probe(io, *p).ok);
}

TEST_CASE("tcp probe: a full accept queue is a timeout", "[tcp]") {
    // A listener with a backlog of 0 that never accepts: once the queue is
    // full the kernel drops SYNs, and connect() hangs like on a dead host.
    asio::io_context io;
    tcp::acceptor acceptor(io);
    acceptor.open(tcp::v4());
    acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor.listen(0);
    const auto port = acceptor.local_endpoint().port();
    std::shared_ptr<Probe> p = make_probe(io, make_check(HealthKind::tcp, "127.0.0.1", port, 300ms));
    ProbeResult r;
    for (int i = 0; i < 8; ++i) {  // the first one or two still get into the queue
        r = run_probe(io, *p);
        if (!r.ok) break;
    }
    CHECK_FALSE(r.ok);
    CHECK(r.detail == "timed out after 300ms (connecting)");
}

namespace {

// A real redis-server on a free port in a temp dir, no persistence unless a
// test saves explicitly.
struct RedisServer {
    TempDir dir;
    std::uint16_t port = free_port();
    ChildProcess proc;

    void start(std::vector<std::string> extra = {}) {
        std::vector<std::string> argv{"/usr/bin/redis-server", "--port", std::to_string(port),
                                      "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                      "--dir", dir.path(), "--daemonize", "no"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        proc.start(argv, dir.file("redis.log"));
    }
    ~RedisServer() { proc.stop(SIGKILL); }

    // Blocking RESP commands, for setting up data.
    std::string command_lines(const std::string& raw, int replies) {
        asio::io_context io;
        tcp::socket s(io);
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        asio::write(s, asio::buffer(raw));
        std::string in;
        for (int i = 0; i < replies; ++i) asio::read_until(s, asio::dynamic_buffer(in), "\r\n");
        return in;
    }
};

bool is_pong(const ProbeResult& r) { return r.ok && r.detail == "PONG"; }

}  // namespace

TEST_CASE("redis probe: PONG from a real redis-server, refused when it is down", "[redis]") {
    asio::io_context io;
    RedisServer redis;
    auto p = make_probe(io, make_check(HealthKind::redis, "127.0.0.1", redis.port));
    const auto before = run_probe(io, *p);
    CHECK_FALSE(before.ok);
    CHECK(before.detail.find("Connection refused") != std::string::npos);

    redis.start();
    const auto up = probe_until(io, *p, is_pong, 20s);
    CHECK(is_pong(up));

    redis.proc.stop(SIGTERM);
    const auto after = run_probe(io, *p);
    CHECK_FALSE(after.ok);
}

TEST_CASE("redis probe: a redis loading its dataset answers LOADING and is not ready", "[redis]") {
    asio::io_context io;
    RedisServer redis;
    redis.start();
    auto p = make_probe(io, make_check(HealthKind::redis, "127.0.0.1", redis.port));
    REQUIRE(is_pong(probe_until(io, *p, is_pong, 20s)));

    // 2,000 keys saved to dump.rdb, then loaded back at 1 ms per key
    // (key-load-delay, a knob of Redis's own test suite) so loading lasts
    // about 2 s and the server answers while it loads.
    std::string sets;
    for (int i = 0; i < 2000; ++i) {
        const std::string k = "key:" + std::to_string(i);
        sets += "*3\r\n$3\r\nSET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n$5\r\nvalue\r\n";
    }
    redis.command_lines(sets, 2000);
    REQUIRE(redis.command_lines("*1\r\n$4\r\nSAVE\r\n", 1) == "+OK\r\n");
    redis.proc.stop(SIGKILL);
    redis.start({"--dbfilename", "dump.rdb", "--key-load-delay", "1000", "--loading-process-events-interval-bytes",
                 "1024"});

    const auto loading =
        probe_until(io, *p, [](const ProbeResult& r) { return r.detail.rfind("LOADING", 0) == 0; }, 20s, 20ms);
    CHECK_FALSE(loading.ok);
    CHECK(loading.detail.rfind("LOADING", 0) == 0);
    const auto loaded = probe_until(io, *p, is_pong, 30s);
    CHECK(is_pong(loaded));
}

TEST_CASE("redis probe: a password-protected redis counts as accepting", "[redis]") {
    asio::io_context io;
    RedisServer redis;
    redis.start({"--requirepass", "secret"});
    auto p = make_probe(io, make_check(HealthKind::redis, "127.0.0.1", redis.port));
    const auto r = probe_until(io, *p, [](const ProbeResult& r) { return r.ok; }, 20s);
    CHECK(r.ok);
    CHECK(r.detail.find("NOAUTH") != std::string::npos);
}

TEST_CASE("redis probe: something that is not redis fails", "[redis]") {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    auto p = make_probe(io, make_check(HealthKind::redis, "127.0.0.1", acceptor.local_endpoint().port(), 1000ms));

    SECTION("an HTTP-ish reply") {
        tcp::socket peer(io);
        acceptor.async_accept(peer, [&](const boost::system::error_code& ec) {
            if (!ec) asio::write(peer, asio::buffer(std::string("HTTP/1.1 400 Bad Request\r\n\r\n")));
        });
        const auto r = run_probe(io, *p);
        CHECK_FALSE(r.ok);
        CHECK(r.detail == "unexpected reply: HTTP/1.1 400 Bad Request");
    }
    SECTION("an endless line") {
        tcp::socket peer(io);
        const std::string noise(4096, 'z');
        acceptor.async_accept(peer, [&](const boost::system::error_code& ec) {
            if (!ec) asio::write(peer, asio::buffer(noise));
        });
        const auto r = run_probe(io, *p);
        CHECK_FALSE(r.ok);
        CHECK(r.detail == "reply longer than 512 bytes without a line end");
    }
    SECTION("silence") {
        tcp::socket peer(io);
        acceptor.async_accept(peer, [](const boost::system::error_code&) {});
        const auto r = run_probe(io, *p);
        CHECK_FALSE(r.ok);
        CHECK(r.detail == "timed out after 1s (waiting for the reply)");
    }
}
