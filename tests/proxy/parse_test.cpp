// Request/response head validation and chunked framing: the smuggling
// vectors are refused here, byte for byte, before any socket is involved.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "proxy/http_parse.hpp"
#include "proxy/rewrite.hpp"

using namespace vigil::proxy;

namespace {
ParseResult check(const std::string& bytes, std::size_t max = 8192) {
    auto head = std::make_unique<RequestHead>();
    return validate_request(bytes, max, *head);
}
}  // namespace

TEST_CASE("a plain request parses with its framing and keep-alive", "[parse]") {
    auto h = std::make_unique<RequestHead>();
    std::string r = "POST /api/x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Request-Id: abc\r\n\r\nhello";
    REQUIRE(validate_request(r, 8192, *h) == ParseResult::ok);
    CHECK(h->method == "POST");
    CHECK(h->target == "/api/x?y=1");
    CHECK(h->body == BodyKind::length);
    CHECK(h->content_length == 5);
    CHECK(h->head_size == r.size() - 5);
    CHECK(h->keep_alive);
    CHECK(h->request_id == "abc");
    CHECK_FALSE(h->idempotent());
}

TEST_CASE("incomplete heads ask for more, oversized ones are 431", "[parse]") {
    CHECK(check("GET / HTTP/1.1\r\nHost: a\r\n") == ParseResult::incomplete);
    CHECK(check("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(9000, 'a') + "\r\n\r\n") == ParseResult::too_large);
    CHECK(check("GET /" + std::string(9000, 'a')) == ParseResult::too_large);
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 150; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
    CHECK(check(many + "\r\n", 65536) == ParseResult::too_large);
}

TEST_CASE("smuggling vectors are refused", "[parse][smuggling]") {
    const std::string base = "POST / HTTP/1.1\r\nHost: a\r\n";
    CHECK(check(base + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Content-Length: 5, 5\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Content-Length: +5\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Content-Length: -1\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Content-Length: 99999999999999999999\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Transfer-Encoding: gzip, chunked\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Transfer-Encoding : chunked\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "Transfer-Encoding: xchunked\r\n\r\n") == ParseResult::bad_request);
    CHECK(check(base + "X: a\r\n continued\r\n\r\n") == ParseResult::bad_request);  // obs-fold
    CHECK(check(base + "X: a\rb\r\n\r\n") == ParseResult::bad_request);              // bare CR
    CHECK(check(base + "X: a\nContent-Length: 1\r\n\r\n") == ParseResult::bad_request);  // bare LF
    CHECK(check("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == ParseResult::bad_request);
    CHECK(check("GET / HTTP/1.1\r\n\r\n") == ParseResult::bad_request);                 // no Host
    CHECK(check("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == ParseResult::bad_request);
    CHECK(check("GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n") == ParseResult::bad_request);
    CHECK(check("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == ParseResult::bad_request);
    CHECK(check("GET  / HTTP/1.1\r\nHost: a\r\n\r\n") == ParseResult::bad_request);
    CHECK(check("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n") == ParseResult::bad_request);
    CHECK(check("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n") == ParseResult::bad_request);
}

TEST_CASE("a CTL byte anywhere in a field value is refused and HTAB and obs-text are not", "[parse]") {
    // Values are checked eight bytes at a time: every position of a word,
    // and the tail after the last whole word, must catch a bad byte.
    const std::string clean = "abcdefghijklmnopqrstuvwx";  // 24 bytes: three words, then tails below
    for (std::size_t len = 1; len <= clean.size(); ++len) {
        for (std::size_t at = 0; at < len; ++at) {
            for (char bad : {'\x00', '\x01', '\x1f', '\x7f', '\r'}) {
                std::string v = clean.substr(0, len);
                v[at] = bad;
                INFO("len " << len << " at " << at << " byte " << int(bad));
                CHECK(check("GET / HTTP/1.1\r\nHost: a\r\nX-V: " + v + "\r\n\r\n") == ParseResult::bad_request);
            }
            std::string v = clean.substr(0, len);
            v[at] = at + 1 == len ? '\xff' : '\t';  // HTAB inside a value; obs-text anywhere
            CHECK(check("GET / HTTP/1.1\r\nHost: a\r\nX-V: " + v + "\r\n\r\n") == ParseResult::ok);
        }
    }
}

TEST_CASE("Expect other than 100-continue is 417", "[parse]") {
    CHECK(check("GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n") == ParseResult::expectation_failed);
    auto h = std::make_unique<RequestHead>();
    REQUIRE(validate_request("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", 8192, *h) ==
            ParseResult::ok);
    CHECK(h->expect_continue);
    // HTTP/1.0: the expectation is ignored (RFC 9110 10.1.1), no 100 and no 417.
    REQUIRE(validate_request("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", 8192, *h) ==
            ParseResult::ok);
    CHECK_FALSE(h->expect_continue);
    CHECK(check("GET / HTTP/1.0\r\nExpect: magic\r\n\r\n") == ParseResult::ok);
}

TEST_CASE("HTTP/1.0 keep-alive needs the token, 1.1 close ends it", "[parse]") {
    auto h = std::make_unique<RequestHead>();
    REQUIRE(validate_request("GET / HTTP/1.0\r\n\r\n", 8192, *h) == ParseResult::ok);
    CHECK_FALSE(h->keep_alive);
    REQUIRE(validate_request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 8192, *h) == ParseResult::ok);
    CHECK(h->keep_alive);
    REQUIRE(validate_request("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 8192, *h) == ParseResult::ok);
    CHECK_FALSE(h->keep_alive);
}

TEST_CASE("responses: framing by status, method and headers", "[parse]") {
    auto r = std::make_unique<ResponseHead>();
    REQUIRE(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 8192, false, *r) == ParseResult::ok);
    CHECK(r->body == BodyKind::length);
    REQUIRE(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 8192, true, *r) == ParseResult::ok);
    CHECK(r->body == BodyKind::none);
    REQUIRE(parse_response("HTTP/1.1 204 No Content\r\n\r\n", 8192, false, *r) == ParseResult::ok);
    CHECK(r->body == BodyKind::none);
    REQUIRE(parse_response("HTTP/1.1 200 OK\r\n\r\n", 8192, false, *r) == ParseResult::ok);
    CHECK(r->body == BodyKind::until_close);
    CHECK_FALSE(r->keep_alive);
    REQUIRE(parse_response("HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n", 8192, false, *r) == ParseResult::ok);
    CHECK(r->body == BodyKind::chunked);
    CHECK(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 8192, false, *r) ==
          ParseResult::bad_request);
    CHECK(parse_response("HTTP/1.1 2x0 OK\r\n\r\n", 8192, false, *r) == ParseResult::bad_request);
}

TEST_CASE("chunked scanner finds the end and refuses bad framing", "[parse][chunked]") {
    std::size_t used = 0;
    {
        ChunkedScanner s;
        std::string b = "5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Checksum: x\r\n\r\nNEXT";
        REQUIRE(s.feed(b.data(), b.size(), used) == ChunkedScanner::Status::done);
        CHECK(b.substr(used) == "NEXT");
        CHECK(s.body_bytes() == 8);
    }
    {
        ChunkedScanner s;  // byte by byte
        std::string b = "a\r\n0123456789\r\n0\r\n\r\n";
        ChunkedScanner::Status st = ChunkedScanner::Status::more;
        for (std::size_t i = 0; i < b.size(); ++i) {
            st = s.feed(b.data() + i, 1, used);
            if (i + 1 < b.size()) REQUIRE(st == ChunkedScanner::Status::more);
        }
        CHECK(st == ChunkedScanner::Status::done);
    }
    for (std::string bad : {"5\nhello\r\n", "g\r\n", "5\r\nhelloX\r\n", "fffffffffffffffff\r\n", "\r\n", "5\r\nhello\r\n0\r\n\n"}) {
        ChunkedScanner s;
        CHECK(s.feed(bad.data(), bad.size(), used) == ChunkedScanner::Status::bad);
    }
    ChunkedScanner limited(4);
    std::string b = "5\r\nhello\r\n0\r\n\r\n";
    CHECK(limited.feed(b.data(), b.size(), used) == ChunkedScanner::Status::too_large);
}

TEST_CASE("request and response heads are rewritten for the next hop", "[parse][rewrite]") {
    auto h = std::make_unique<RequestHead>();
    REQUIRE(validate_request("GET /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
                             "Keep-Alive: 5\r\nTE: trailers\r\nUpgrade: websocket\r\nX-Forwarded-For: 1.1.1.1\r\n"
                             "X-Forwarded-Proto: https\r\nAccept: */*\r\n\r\n",
                             8192, *h) == ParseResult::ok);
    std::string out;
    build_request_head(out, *h, "127.0.0.1", false, "rid-1");
    CHECK(out == "GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Forwarded-For: 1.1.1.1, 127.0.0.1\r\n"
                 "X-Forwarded-Proto: http\r\nX-Real-IP: 127.0.0.1\r\nForwarded: for=127.0.0.1;proto=http\r\n"
                 "X-Request-Id: rid-1\r\n\r\n");

    REQUIRE(validate_request("GET / HTTP/1.0\r\n\r\n", 8192, *h) == ParseResult::ok);
    build_request_head(out, *h, "::1", true, "r");
    CHECK(out == "GET / HTTP/1.0\r\nX-Forwarded-For: ::1\r\nX-Forwarded-Proto: https\r\nX-Real-IP: ::1\r\n"
                 "Forwarded: for=\"[::1]\";proto=https\r\nX-Request-Id: r\r\nConnection: close\r\n\r\n");

    auto r = std::make_unique<ResponseHead>();
    const std::string head = "HTTP/1.0 404 Not Here\r\nConnection: close\r\nContent-Length: 0\r\nKeep-Alive: x\r\n\r\n";
    REQUIRE(parse_response(head, 8192, false, *r) == ParseResult::ok);
    build_response_head(out, *r, head, true, false);
    CHECK(out == "HTTP/1.1 404 Not Here\r\nContent-Length: 0\r\n\r\n");
    build_response_head(out, *r, head, false, false);
    CHECK(out == "HTTP/1.1 404 Not Here\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    build_response_head(out, *r, head, true, true);
    CHECK(out == "HTTP/1.1 404 Not Here\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
}

TEST_CASE("a rewritten head as large as a request can make fits, and a small one after it", "[parse][rewrite]") {
    // build_request_head() sizes its output once from a bound: a large input
    // (as many fields as still parse once the proxy's five are added, long
    // forwarding lists, IPv6, a 128-byte id) must come out whole and parse
    // again.
    std::string in = "POST /" + std::string(300, 'p') + " HTTP/1.1\r\nHost: h\r\n";
    in += "X-Forwarded-For: " + std::string(500, '1') + "\r\nForwarded: for=" + std::string(500, '2') + "\r\n";
    for (int i = 0; i < 94; ++i) in += "X-F" + std::to_string(i) + ": " + std::string(200, 'v') + "\r\n";
    in += "\r\n";
    auto h = std::make_unique<RequestHead>();
    REQUIRE(validate_request(in, 64 * 1024, *h) == ParseResult::ok);
    REQUIRE(h->header_count == 97);
    std::string out;
    const std::string rid(128, 'r');
    build_request_head(out, *h, "fe80::1:2:3:4:5:6", true, rid);
    auto back = std::make_unique<RequestHead>();
    REQUIRE(validate_request(out, 64 * 1024, *back) == ParseResult::ok);
    CHECK(back->head_size == out.size());
    CHECK(back->header_count == 95 + 5);  // Host and the 94 X-F*, then the five the proxy sets
    CHECK(back->forwarded_for == std::string(500, '1') + ", fe80::1:2:3:4:5:6");
    CHECK(back->request_id == rid);

    REQUIRE(validate_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 8192, *h) == ParseResult::ok);
    build_request_head(out, *h, "127.0.0.1", false, "r");
    CHECK(out == "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
                 "X-Real-IP: 127.0.0.1\r\nForwarded: for=127.0.0.1;proto=http\r\nX-Request-Id: r\r\n\r\n");
}
