#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "supervisor/core/pg_handshake.hpp"

namespace pg = vigil::core::pg;

namespace {

std::string u32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string message(char type, const std::string& body) { return type + u32(static_cast<std::uint32_t>(body.size() + 4)) + body; }

std::string auth(std::uint32_t code) { return message('R', u32(code)); }

std::string error(const std::string& code, const std::string& text, const std::string& severity = "FATAL") {
    using namespace std::string_literals;
    return message('E', "S"s + severity + '\0' + "V" + severity + '\0' + "C" + code + '\0' + "M" + text + '\0' +
                            "Fpostmaster.c" + '\0' + '\0');
}

std::string session_start() {
    using namespace std::string_literals;
    return auth(0) + message('S', "server_version\0"s + "15.8\0"s) + message('K', u32(42) + u32(7)) +
           message('Z', "I");
}

}  // namespace

TEST_CASE("pg handshake: the startup message is protocol 3.0 with user, database and application", "[pg]") {
    using namespace std::string_literals;
    const std::string m = pg::startup_message("postgres", "payments", "vigil-health");
    const std::string body = u32(3u << 16) + "user\0postgres\0database\0payments\0application_name\0vigil-health\0\0"s;
    CHECK(m == u32(static_cast<std::uint32_t>(body.size() + 4)) + body);
    INFO("no database: the server defaults it to the user's name");
    CHECK(pg::startup_message("u", "", "a").find("database") == std::string::npos);
    INFO("a NUL inside a value cannot shift the fields after it");
    CHECK(pg::startup_message("a\0b"s, "", "x") == pg::startup_message("ab", "", "x"));
}

TEST_CASE("pg handshake: a session that reaches ReadyForQuery is accepting and says goodbye", "[pg]") {
    pg::HandshakeReader r;
    const auto j = r.feed(session_start());
    CHECK(j.verdict == pg::Verdict::accepting);
    CHECK(j.detail == "accepting connections");
    CHECK(j.send_terminate);
    CHECK(pg::kTerminate == std::string_view("X\0\0\0\4", 5));
}

TEST_CASE("pg handshake: the answer may arrive one byte at a time", "[pg]") {
    pg::HandshakeReader r;
    const std::string all = session_start();
    for (std::size_t i = 0; i + 1 < all.size(); ++i) REQUIRE(r.feed(all.substr(i, 1)).verdict == pg::Verdict::need_more);
    CHECK(r.feed(all.substr(all.size() - 1)).verdict == pg::Verdict::accepting);
    INFO("the verdict stays once given");
    CHECK(r.feed("garbage").verdict == pg::Verdict::accepting);
}

TEST_CASE("pg handshake: AuthenticationOk alone is not yet an answer", "[pg]") {
    pg::HandshakeReader r;
    CHECK(r.feed(auth(0)).verdict == pg::Verdict::need_more);
    INFO("a later error decides, e.g. a database that does not exist");
    const auto j = r.feed(error("3D000", "database \"nosuchdb\" does not exist"));
    CHECK(j.verdict == pg::Verdict::accepting);
    CHECK(j.detail == "accepting connections (FATAL:  3D000: database \"nosuchdb\" does not exist)");
    CHECK_FALSE(j.send_terminate);
}

TEST_CASE("pg handshake: a password request means the server accepts connections", "[pg]") {
    for (std::uint32_t code : {3u, 5u, 10u}) {
        pg::HandshakeReader r;
        const auto j = r.feed(auth(code) + (code == 10 ? std::string("SCRAM-SHA-256\0\0", 15) : std::string()));
        CHECK(j.verdict == pg::Verdict::accepting);
        CHECK(j.detail == "accepting connections (password required)");
    }
}

TEST_CASE("pg handshake: 57P03 is not accepting, any other error is accepting, like PQping", "[pg]") {
    {
        pg::HandshakeReader r;
        const auto j = r.feed(error("57P03", "the database system is starting up"));
        CHECK(j.verdict == pg::Verdict::not_accepting);
        CHECK(j.detail == "not accepting connections: FATAL:  57P03: the database system is starting up");
    }
    for (const char* code : {"28000", "53300", "28P01"}) {
        pg::HandshakeReader r;
        CHECK(r.feed(error(code, "no")).verdict == pg::Verdict::accepting);
    }
    INFO("the untranslated severity wins over the localized one");
    using namespace std::string_literals;
    pg::HandshakeReader r;
    const auto j = r.feed(message('E', "SFATAL\0VFATAL\0"s + "C57P03\0Mle système démarre\0\0"s));
    CHECK(j.detail == "not accepting connections: FATAL:  57P03: le système démarre");
}

TEST_CASE("pg handshake: notices and protocol negotiation are skipped", "[pg]") {
    using namespace std::string_literals;
    pg::HandshakeReader r;
    CHECK(r.feed(message('v', u32(0) + u32(1) + "_pq_.x\0"s)).verdict == pg::Verdict::need_more);
    CHECK(r.feed(message('N', "SWARNING\0Mhello\0\0"s)).verdict == pg::Verdict::need_more);
    CHECK(r.feed(session_start()).verdict == pg::Verdict::accepting);
}

TEST_CASE("pg handshake: what is not PostgreSQL is a bad reply", "[pg]") {
    SECTION("an HTTP server") {
        pg::HandshakeReader r;
        const auto j = r.feed("HTTP/1.1 400 Bad Request\r\n\r\n");
        CHECK(j.verdict == pg::Verdict::bad_reply);
    }
    SECTION("a length beyond the bound is refused before it is buffered") {
        pg::HandshakeReader r;
        const auto j = r.feed(std::string("E") + u32(static_cast<std::uint32_t>(pg::kMaxMessage + 1)));
        CHECK(j.verdict == pg::Verdict::bad_reply);
        CHECK(j.detail.find("message length") != std::string::npos);
    }
    SECTION("a length that does not count itself") {
        pg::HandshakeReader r;
        CHECK(r.feed(std::string("R") + u32(3)).verdict == pg::Verdict::bad_reply);
    }
    SECTION("an unknown message type") {
        pg::HandshakeReader r;
        const auto j = r.feed(message('\x01', ""));
        CHECK(j.verdict == pg::Verdict::bad_reply);
        CHECK(j.detail == "unexpected message 0x01");
    }
    SECTION("a truncated authentication request") {
        pg::HandshakeReader r;
        CHECK(r.feed(message('R', "ab")).verdict == pg::Verdict::bad_reply);
    }
}

TEST_CASE("pg handshake: an error without fields still decides", "[pg]") {
    pg::HandshakeReader r;
    const auto j = r.feed(message('E', std::string(1, '\0')));
    CHECK(j.verdict == pg::Verdict::accepting);
    CHECK(j.detail == "accepting connections (ERROR:  )");
}
