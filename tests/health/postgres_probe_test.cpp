#include <catch2/catch.hpp>

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>

#include "tests/health/support.hpp"

using namespace vigil::health;
using namespace vigil::health::test;
using vigil::config::HealthKind;

namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";

// A real PostgreSQL 15 cluster in a temp dir, run as the `postgres` OS user
// (it refuses to run as root), on a free loopback port with its socket in
// the temp dir. `postgres` trusts everyone else needs a password.
struct PgCluster {
    TempDir dir;
    std::string data = dir.file("data");
    std::uint16_t port = free_port();
    ChildProcess server;

    PgCluster() {
        const passwd* pw = ::getpwnam("postgres");
        REQUIRE(pw != nullptr);
        REQUIRE(::chown(dir.path().c_str(), pw->pw_uid, pw->pw_gid) == 0);
        REQUIRE(run_command({kBin + "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                             "--locale=C", "--no-sync", "--no-instructions"},
                            dir.file("initdb.log"), "postgres") == 0);
        write_file(data + "/postgresql.conf",
                   "\nport = " + std::to_string(port) +
                       "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '" + dir.path() +
                       "'\nfsync = off\nmax_connections = 20\nshared_buffers = 16MB\nlc_messages = 'C'\n",
                   true);
        write_file(data + "/pg_hba.conf",
                   "local all all trust\n"
                   "host all postgres 127.0.0.1/32 trust\n"
                   "host all all 127.0.0.1/32 scram-sha-256\n");
    }
    ~PgCluster() { server.stop(SIGQUIT); }

    // A standby with no primary and hot_standby off: the server runs, and
    // answers every connection with "not accepting connections" (57P03)
    // until it is promoted. A deterministic stand-in for "starting up".
    void make_standby() {
        write_file(data + "/postgresql.conf", "hot_standby = off\n", true);
        write_file(data + "/standby.signal", "");
    }
    void start() { server.start({kBin + "postgres", "-D", data}, dir.file("postgres.log"), "postgres"); }
    void promote() {
        REQUIRE(run_command({kBin + "pg_ctl", "promote", "-D", data, "--no-wait"}, dir.file("pg_ctl.log"),
                            "postgres") == 0);
    }
    // pg_isready's verdict: 0 accepting, 1 rejecting, 2 no response.
    int pg_isready(const std::string& user) {
        return run_command({kBin + "pg_isready", "-h", "127.0.0.1", "-p", std::to_string(port), "-U", user, "-t", "5"},
                           dir.file("pg_isready.log"));
    }
    vigil::config::HealthCheck check(const std::string& user, const std::string& db = "postgres") {
        auto hc = make_check(HealthKind::postgres, "127.0.0.1", port, 3000ms);
        hc.user = user;
        hc.database = db;
        return hc;
    }
};

bool has_57p03(const ProbeResult& r) { return r.detail.find("57P03") != std::string::npos; }

}  // namespace

TEST_CASE("postgres probe: no server, a server not yet accepting, then accepting, like pg_isready", "[postgres]") {
    boost::asio::io_context io;
    PgCluster pg;
    auto probe = make_probe(io, pg.check("postgres"));

    const auto nothing = run_probe(io, *probe);
    CHECK_FALSE(nothing.ok);
    CHECK(nothing.detail.find("Connection refused") != std::string::npos);
    CHECK(pg.pg_isready("postgres") == 2);

    pg.make_standby();
    pg.start();
    const auto rejecting = probe_until(io, *probe, has_57p03, 60s);
    INFO(rejecting.detail);
    CHECK_FALSE(rejecting.ok);
    CHECK(rejecting.detail.rfind("not accepting connections: FATAL:  57P03: the database system is", 0) == 0);
    CHECK(pg.pg_isready("postgres") == 1);

    pg.promote();
    const auto accepting = probe_until(io, *probe, [](const ProbeResult& r) { return r.ok; }, 60s);
    CHECK(accepting.ok);
    CHECK(accepting.detail == "accepting connections");
    CHECK(pg.pg_isready("postgres") == 0);

    {
        INFO("a password demanded and not given still means accepting");
        auto p = make_probe(io, pg.check("alice"));
        const auto r = run_probe(io, *p);
        CHECK(r.ok);
        CHECK(r.detail == "accepting connections (password required)");
        CHECK(pg.pg_isready("alice") == 0);
    }
    {
        INFO("an unknown database still means accepting");
        auto p = make_probe(io, pg.check("postgres", "nosuchdb"));
        const auto r = run_probe(io, *p);
        CHECK(r.ok);
        CHECK(r.detail.find("3D000") != std::string::npos);
    }
    {
        INFO("a host name works as well as an address");
        auto hc = pg.check("postgres");
        hc.host = "localhost";
        auto p = make_probe(io, hc);
        CHECK(run_probe(io, *p).ok);
    }
    {
        INFO("after a fast shutdown it fails again");
        pg.server.stop(SIGINT);
        const auto r = run_probe(io, *probe);
        CHECK_FALSE(r.ok);
        CHECK(pg.pg_isready("postgres") == 2);
    }
}

TEST_CASE("postgres probe: a server that accepts TCP but never answers is a timeout", "[postgres]") {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    boost::asio::ip::tcp::socket peer(io);
    acceptor.async_accept(peer, [](const boost::system::error_code&) {});
    auto hc = make_check(HealthKind::postgres, "127.0.0.1", acceptor.local_endpoint().port(), 300ms);
    hc.user = "postgres";
    auto p = make_probe(io, hc);
    const auto r = run_probe(io, *p);
    CHECK_FALSE(r.ok);
    CHECK(r.detail == "timed out after 300ms (waiting for the server)");
}
