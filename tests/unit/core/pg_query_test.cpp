// The simple query protocol reader that vigild's replication manager speaks
// to its servers with (no libpq in vigild): server bytes in any split.
#include <catch2/catch.hpp>

#include <string>

#include "supervisor/core/pg_query.hpp"

using namespace vigil::core::pg;

namespace {

std::string msg(char type, const std::string& body) {
    const auto len = static_cast<std::uint32_t>(body.size() + 4);
    std::string out{type};
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((len >> shift) & 0xff));
    return out + body;
}

std::string u32s(std::uint32_t v) {
    std::string out;
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
    return out;
}

// One row of two columns: "0/3000060" and NULL.
std::string a_row() { return msg('D', std::string("\0\2", 2) + u32s(9) + "0/3000060" + u32s(0xffffffffu)); }

}  // namespace

TEST_CASE("pg query: the Query message is 'Q', its length and the SQL with a terminating zero", "[pg]") {
    CHECK(query_message("SELECT 1") == std::string("Q\0\0\0\15SELECT 1\0", 14));
}

TEST_CASE("pg query: rows, an error with its SQLSTATE, and ReadyForQuery, in any split", "[pg]") {
    const std::string server = msg('R', u32s(0)) + msg('S', std::string("a\0b\0", 4)) + msg('T', "whatever") + a_row() +
                               msg('E', std::string("SERROR\0C42601\0Msyntax error at end of input\0\0", 46)) +
                               msg('Z', "I");
    for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{7}, server.size()}) {
        QueryReader in;
        std::vector<ServerMessage> got;
        for (std::size_t at = 0; at < server.size(); at += step) {
            in.feed(std::string_view(server).substr(at, step));
            ServerMessage m;
            while (in.next(m)) got.push_back(m);
        }
        REQUIRE_FALSE(in.bad());
        REQUIRE(got.size() == 6);
        CHECK(got[0].kind == ServerMessage::Kind::auth_ok);
        CHECK(got[1].kind == ServerMessage::Kind::other);
        CHECK(got[3].kind == ServerMessage::Kind::row);
        CHECK(got[3].row == std::vector<std::string>{"0/3000060", ""});
        CHECK(got[4].kind == ServerMessage::Kind::error);
        CHECK(got[4].text == "42601: syntax error at end of input");
        CHECK(got[5].kind == ServerMessage::Kind::ready);
    }
}

TEST_CASE("pg query: a password request, a bad length and a malformed row are told apart", "[pg]") {
    QueryReader auth;
    auth.feed(msg('R', u32s(10) + std::string("SCRAM-SHA-256\0\0", 15)));
    ServerMessage m;
    REQUIRE(auth.next(m));
    CHECK(m.kind == ServerMessage::Kind::auth_request);
    CHECK(m.code == 10);

    QueryReader http;
    http.feed("HTTP/1.1 400 Bad Request\r\n\r\n");
    CHECK_FALSE(http.next(m));
    CHECK(http.bad());

    QueryReader row;  // says 2 columns, holds one
    row.feed(msg('D', std::string("\0\2", 2) + u32s(1) + "x"));
    CHECK_FALSE(row.next(m));
    CHECK(row.bad());
    CHECK(row.why_bad() == "malformed DataRow");
}
