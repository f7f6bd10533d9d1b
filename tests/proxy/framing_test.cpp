// Regression tests for issue 13 at the level of the pure pieces: the request
// framer (which bytes belong to which request), the framing fields a
// Connection header may not remove, chunk-size and trailer lines, path
// normalization for routing, the forwarding headers and log escaping.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "proxy/access_log.hpp"
#include "proxy/http_parse.hpp"
#include "proxy/path.hpp"
#include "proxy/request_framer.hpp"
#include "proxy/rewrite.hpp"

using namespace vigil::proxy;

namespace {

struct Framed {
    std::string method, target, body;
};

// Drives the framer as the session does: read what fits, parse a head,
// consume its body, repeat; `piece` bytes per read.
std::vector<Framed> frame_all(const std::string& stream, std::size_t piece, ParseResult* last = nullptr) {
    RequestFramer f(4096, 1024, 1 << 20);
    auto head = std::make_unique<RequestHead>();
    std::vector<Framed> out;
    std::size_t fed = 0;
    auto feed = [&]() -> bool {
        if (fed == stream.size()) return false;
        char* at = f.read_ptr();
        const std::size_t n = std::min({piece, f.read_room(), stream.size() - fed});
        std::memcpy(at, stream.data() + fed, n);
        fed += n;
        f.received(n);
        return true;
    };
    for (;;) {
        ParseResult r = ParseResult::incomplete;
        while ((f.empty() || (r = f.parse_head(*head)) == ParseResult::incomplete))
            if (!feed()) break;
        if (last) *last = r;
        if (r != ParseResult::ok) return out;
        Framed m{std::string(head->method), std::string(head->target), {}};
        for (;;) {
            const char* p;
            std::size_t n;
            const auto st = f.body(p, n);
            if (st == RequestFramer::Body::bad || st == RequestFramer::Body::too_large) {
                if (last) *last = ParseResult::bad_request;
                return out;
            }
            m.body.append(p, n);
            f.consume(n);
            if (f.at_boundary()) break;
            if (!feed()) return out;
        }
        out.push_back(std::move(m));
    }
}

}  // namespace

TEST_CASE("framer: a body that came with its head is never parsed as the next request", "[framing]") {
    // The POST's body is itself a request: it must stay a body.
    const std::string smuggled = "GET /evil HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string stream = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(smuggled.size()) +
                               "\r\n\r\n" + smuggled + "GET /q HTTP/1.1\r\nHost: a\r\n\r\n";
    for (std::size_t piece : {stream.size(), std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
        INFO("piece " << piece);
        const auto got = frame_all(stream, piece);
        REQUIRE(got.size() == 2);
        CHECK(got[0].target == "/p");
        CHECK(got[0].body == smuggled);
        CHECK(got[1].target == "/q");
        CHECK(got[1].body.empty());
    }
}

TEST_CASE("framer: chunked bodies end exactly at the last chunk and trailers", "[framing]") {
    const std::string stream =
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"
        "PUT /d HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nZ"
        "DELETE /e HTTP/1.1\r\nHost: a\r\n\r\n";
    for (std::size_t piece : {stream.size(), std::size_t{1}, std::size_t{5}}) {
        INFO("piece " << piece);
        const auto got = frame_all(stream, piece);
        REQUIRE(got.size() == 3);
        CHECK(got[0].body == "3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n");  // relayed as framed
        CHECK(got[1].body == "Z");
        CHECK(got[2].method == "DELETE");
    }
}

TEST_CASE("framer: bad chunk framing stops the connection, over max_body is too large", "[framing]") {
    ParseResult last{};
    auto got = frame_all("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 junk\r\nhello\r\n0\r\n\r\n", 9, &last);
    CHECK(got.empty());
    CHECK(last == ParseResult::bad_request);

    RequestFramer f(4096, 1024, 10);
    auto head = std::make_unique<RequestHead>();
    const std::string s = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
    std::memcpy(f.read_ptr(), s.data(), s.size());
    f.received(s.size());
    REQUIRE(f.parse_head(*head) == ParseResult::ok);
    const char* p;
    std::size_t n;
    CHECK(f.body(p, n) == RequestFramer::Body::too_large);
    CHECK_FALSE(f.at_boundary());
}

TEST_CASE("Connection may not name a field that frames the message", "[parse][smuggling]") {
    auto h = std::make_unique<RequestHead>();
    const std::string base = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n";
    for (const char* c : {"Content-Length", "content-length", "close, Transfer-Encoding", "Host", "keep-alive,host"}) {
        INFO(c);
        CHECK(validate_request(base + "Connection: " + c + "\r\n\r\n", 8192, *h) == ParseResult::bad_request);
    }
    CHECK(validate_request(base + "Connection: keep-alive, X-Trace\r\n\r\n", 8192, *h) == ParseResult::ok);
}

TEST_CASE("chunk-size lines and trailers are refused unless well-formed", "[parse][chunked]") {
    std::size_t used = 0;
    for (std::string bad : {"5 junk\r\nhello\r\n0\r\n\r\n", "5\tx\r\nhello\r\n0\r\n\r\n", "0\r\nno-colon\r\n\r\n",
                            "0\r\nName : v\r\n\r\n", "0\r\n:v\r\n\r\n", "0\r\nContent-Length: 7\r\n\r\n",
                            "0\r\nX: 1\r\ntransfer-encoding: chunked\r\n\r\n", "0\r\nHOST: b\r\n\r\n",
                            "0\r\nConnection: x y\r\n\r\n", "0\r\nTE: trailers\r\n\r\n", "0\r\nUpgrade: h2c\r\n\r\n", "5;\r\nhello\r\n0\r\n\r\n",
                            "5;a=\r\nhello\r\n0\r\n\r\n", "5;@\r\nhello\r\n0\r\n\r\n", "5;a=b c\r\nhello\r\n0\r\n\r\n",
                            "5;a=\"open\r\nhello\r\n0\r\n\r\n", "5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
                            "5  \r\nhello\r\n0\r\n\r\n", "5;a \r\nhello\r\n0\r\n\r\n", "5;a=b \r\nhello\r\n0\r\n\r\n"}) {
        INFO(bad);
        ChunkedScanner s;
        CHECK(s.feed(bad.data(), bad.size(), used) == ChunkedScanner::Status::bad);
    }
    for (std::string good : {"5 ;a=b\r\nhello\r\n0\r\n\r\n", "0\r\nX-T: 1\r\nY:\r\n\r\n", "0\r\nContent-Length-X: 1\r\nHosts: 2\r\n\r\n",
                             "5;a=b;c\r\nhello\r\n0\r\n\r\n", "5 ; a = b ; c\r\nhello\r\n0\r\n\r\n",
                             "5;q=\"x y\\\"z\"\r\nhello\r\n0;last\r\n\r\n"}) {
        INFO(good);
        ChunkedScanner s;
        CHECK(s.feed(good.data(), good.size(), used) == ChunkedScanner::Status::done);
        CHECK(used == good.size());
    }
}

TEST_CASE("paths are normalized as a backend resolves them", "[path]") {
    std::string out;
    auto norm = [&](const char* in) -> std::string {
        switch (normalize_target(in, out)) {
            case PathResult::same: return in;
            case PathResult::changed: return out;
            case PathResult::bad: return "BAD";
        }
        return "";
    };
    CHECK(norm("/auth/../payments/y") == "/payments/y");
    CHECK(norm("/auth/%2e%2e/payments/y") == "/payments/y");
    CHECK(norm("/a//b///c") == "/a/b/c");
    CHECK(norm("/a/./b/.") == "/a/b/");
    CHECK(norm("/a/b/..") == "/a/");
    CHECK(norm("/a/b/") == "/a/b/");
    CHECK(norm("/%61%7Ez") == "/a~z");
    CHECK(norm("/a%2Fb/../c") == "/c");        // %2F is never a separator: "a%2Fb" is one segment
    CHECK(norm("/a%2fb") == "/a%2Fb");         // kept encoded, hex upper-cased
    CHECK(norm("/x%20y?q=/../a//b") == "/x%20y?q=/../a//b");  // the query is left alone
    CHECK(norm("/a/..%2F..%2Fetc") == "/a/..%2F..%2Fetc");   // one segment named "..%2F..%2Fetc"
    CHECK(norm("/..") == "BAD");
    CHECK(norm("/a/../../b") == "BAD");
    CHECK(norm("/%zz") == "BAD");
    CHECK(norm("/%4") == "BAD");
    CHECK(norm("/plain/path.html?x=1") == "/plain/path.html?x=1");
    CHECK(norm("/.well-known/x") == "/.well-known/x");
    CHECK(norm("/") == "/");
    CHECK(norm("*") == "*");
    CHECK(normalize_target("/plain", out) == PathResult::same);
}

TEST_CASE("X-Real-IP is the client, Forwarded is appended to, never passed as is", "[rewrite]") {
    auto h = std::make_unique<RequestHead>();
    REQUIRE(validate_request("GET /a HTTP/1.1\r\nHost: h\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\r\n", 8192,
                             *h) == ParseResult::ok);
    std::string out;
    build_request_head(out, *h, "127.0.0.1", true, "r");
    CHECK(out.find("X-Real-IP: 127.0.0.1\r\n") != std::string::npos);
    CHECK(out.find("X-Real-IP: 6.6.6.6") == std::string::npos);
    CHECK(out.find("Forwarded: for=6.6.6.6, for=127.0.0.1;proto=https\r\n") != std::string::npos);
    REQUIRE(validate_request("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", 8192, *h) == ParseResult::ok);
    build_request_head(out, *h, "::1", false, "r");
    CHECK(out.find("Forwarded: for=\"[::1]\";proto=http\r\n") != std::string::npos);
    CHECK(validate_request("GET / HTTP/1.1\r\nHost: h\r\nForwarded: a\r\nForwarded: b\r\n\r\n", 8192, *h) ==
          ParseResult::bad_request);
}

TEST_CASE("a client's X-Request-Id is used only when it cannot forge anything", "[rewrite]") {
    CHECK(safe_request_id("c77fd5341d61158c-1"));
    CHECK(safe_request_id("trace:abc/def+g=="));
    CHECK_FALSE(safe_request_id(""));
    CHECK_FALSE(safe_request_id(std::string(129, 'a')));
    CHECK_FALSE(safe_request_id("a b"));
    CHECK_FALSE(safe_request_id("a\"b"));
    CHECK_FALSE(safe_request_id("x status=200"));
}
