// Real data stores behind a mode = tcp listener: PostgreSQL through libpq
// (startup, queries, a transaction, a COPY of a few MiB, the server cut at
// `down`) and Redis through its own protocol, each server started by the
// services suite's fixtures on a free port. Skipped without them.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include "fixtures.hpp"
#include "harness.hpp"
#include "prerequisites.hpp"

namespace {

namespace svc = vigil::services::test;
using proxytest::Conn;
using namespace std::chrono_literals;

std::unique_ptr<proxytest::Proxy> tcp_to(int server_port) {
    return proxytest::start_proxy("[upstream:store]\nservers = 127.0.0.1:" + std::to_string(server_port) +
                                  "\n\n[proxy:store]\nmode = tcp\nlisten = 127.0.0.1:{PORT}\nroute = store\n");
}

struct Pg {
    explicit Pg(int port) {
        conn = PQconnectdb(("hostaddr=127.0.0.1 port=" + std::to_string(port) +
                            " user=postgres dbname=postgres connect_timeout=5").c_str());
    }
    ~Pg() { PQfinish(conn); }
    bool ok() const { return PQstatus(conn) == CONNECTION_OK; }
    // The first value of `sql`'s result, or "ERROR: …".
    std::string value(const std::string& sql) {
        PGresult* r = PQexec(conn, sql.c_str());
        std::string out;
        const auto st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
        else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) out = std::string("ERROR: ") + PQresultErrorMessage(r);
        PQclear(r);
        return out;
    }
    PGconn* conn;
};

}  // namespace

TEST_CASE("tcp: PostgreSQL through the listener: queries, a transaction, COPY, and `down` cutting the session",
          "[tcp][postgres]") {
    VIGIL_SKIP_UNLESS(vigil::test::Prerequisites().executable("/usr/lib/postgresql/15/bin/postgres"));
    svc::Postgres server;
    auto p = tcp_to(server.port());
    Pg db(p->port);
    INFO(PQerrorMessage(db.conn));
    REQUIRE(db.ok());
    CHECK(db.value("SELECT 1 + 1") == "2");
    CHECK(db.value("CREATE TABLE t (id int, body text)").empty());
    CHECK(db.value("BEGIN").empty());
    CHECK(db.value("INSERT INTO t SELECT g, repeat('x', 1000) FROM generate_series(1, 4000) g").empty());
    CHECK(db.value("COMMIT").empty());
    // About 4 MB back through the relay in one result.
    CHECK(db.value("SELECT sum(length(body)) FROM (SELECT body FROM t) s") == "4000000");
    CHECK(db.value("SELECT length(string_agg(body, '')) FROM t") == "4000000");
    // And a few MiB the other way: COPY FROM STDIN.
    PGresult* r = PQexec(db.conn, "COPY t FROM STDIN");
    REQUIRE(PQresultStatus(r) == PGRES_COPY_IN);
    PQclear(r);
    const std::string row = "-1\t" + std::string(4000, 'y') + "\n";
    for (int i = 0; i < 1000; ++i) REQUIRE(PQputCopyData(db.conn, row.data(), static_cast<int>(row.size())) == 1);
    REQUIRE(PQputCopyEnd(db.conn, nullptr) == 1);
    r = PQgetResult(db.conn);
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    while ((r = PQgetResult(db.conn))) PQclear(r);
    CHECK(db.value("SELECT count(*) FROM t WHERE id = -1") == "1000");

    // The server set down (a demoted primary): the session is cut, and its
    // backend goes away with it — nothing can be written there through us.
    const std::string pid = db.value("SELECT pg_backend_pid()");
    REQUIRE(proxytest::admin_call(p->admin, "POST", "/v1/pools/store/servers/127.0.0.1:" + std::to_string(server.port()) +
                                                    "/state",
                                  R"({"state":"down"})")
                ->status == 200);
    CHECK(db.value("SELECT 1").starts_with("ERROR: "));
    // Observed from a direct connection: the backend ends once it reads our EOF.
    bool gone = false;
    for (int i = 0; i < 50 && !gone; ++i)
        gone = server.query_value("postgres", "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) == "0";
    CHECK(gone);
}

TEST_CASE("tcp: Redis through the listener", "[tcp][redis]") {
    VIGIL_SKIP_UNLESS(vigil::test::Prerequisites().executable("/usr/bin/redis-server"));
    svc::Redis server;
    auto p = tcp_to(server.port());
    auto c = Conn::tcp(p->port);
    REQUIRE(c);
    REQUIRE(c->send("PING\r\n"));
    CHECK(c->read_until("\r\n") == "+PONG\r\n");
    const std::string big(1 << 20, 'v');
    REQUIRE(c->send("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$" + std::to_string(big.size()) + "\r\n" + big + "\r\n"));
    CHECK(c->read_until("\r\n") == "+OK\r\n");
    REQUIRE(c->send("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"));
    CHECK(c->read_until("\r\n") == "$" + std::to_string(big.size()) + "\r\n");
    auto value = c->read_until("\r\n", 5000ms);
    REQUIRE(value);
    CHECK(value->size() == big.size() + 2);
    // QUIT: Redis answers and closes; its EOF reaches us through the relay.
    REQUIRE(c->send("QUIT\r\n"));
    CHECK(c->read_until("\r\n") == "+OK\r\n");
    CHECK(c->closed(3000ms));
}
