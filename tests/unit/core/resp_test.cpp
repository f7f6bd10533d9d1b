// The one RESP reply reader (supervisor/core/resp.hpp), as vigild's
// replication driver and vigilctl's backup client use it: every type, in
// any split, and each limit refusing as soon as it is certain to be passed.
#include <catch2/catch.hpp>

#include "supervisor/core/redis_replication.hpp"
#include "supervisor/core/resp.hpp"

namespace resp = vigil::core::resp;
using Type = resp::Value::Type;

namespace {

struct Stream {
    std::vector<resp::Value> replies;
    std::string error;          // why the reader stopped, "" while it waits
    std::size_t most_held = 0;  // the most bytes held while waiting
};

// `wire` fed `piece` bytes at a time, every reply taken as it is whole.
Stream feed(const std::string& wire, std::size_t piece, const resp::Limits& limits = {}) {
    Stream s;
    std::string buf;
    for (std::size_t at = 0; at < wire.size() && s.error.empty(); at += piece) {
        buf += wire.substr(at, piece);
        std::size_t used = 0;
        while (auto v = resp::parse(buf, used, s.error, limits)) {
            s.replies.push_back(std::move(*v));
            buf.erase(0, used);
        }
        if (s.error.empty()) s.most_held = std::max(s.most_held, buf.size());
    }
    return s;
}

std::string refusal(const std::string& wire, const resp::Limits& limits = {}) {
    std::size_t used = 0;
    std::string error;
    CHECK_FALSE(resp::parse(wire, used, error, limits));
    return error;
}

}  // namespace

TEST_CASE("resp: every reply type, whole and in pieces", "[resp]") {
    std::size_t used = 0;
    std::string error;
    auto v = resp::parse("+OK\r\n", used, error);
    REQUIRE(v);
    CHECK(v->type == Type::simple);
    CHECK(v->str == "OK");
    CHECK(used == 5);
    v = resp::parse("-ERR Background save already in progress\r\n", used, error);
    REQUIRE(v);
    CHECK(v->type == Type::error);
    CHECK(v->str == "ERR Background save already in progress");
    v = resp::parse(":1767225600\r\n", used, error);
    REQUIRE(v);
    CHECK(v->type == Type::integer);
    CHECK(v->integer == 1767225600);
    v = resp::parse(":-3\r\n", used, error);
    REQUIRE(v);
    CHECK(v->integer == -3);
    // CONFIG GET's answer; a bulk string may hold CRLF; the next reply stays.
    const std::string arr = "*2\r\n$3\r\ndir\r\n$9\r\n/srv/r\r\nx\r\n+next\r\n";
    v = resp::parse(arr, used, error);
    REQUIRE(v);
    CHECK(v->type == Type::array);
    REQUIRE(v->items.size() == 2);
    CHECK(v->items[0].str == "dir");
    CHECK(v->items[1].str == "/srv/r\r\nx");
    CHECK(arr.substr(used) == "+next\r\n");
    for (std::size_t cut = 0; cut + 7 < arr.size(); ++cut) {
        CHECK_FALSE(resp::parse(arr.substr(0, cut), used, error));
        CHECK(error.empty());
    }
    // The same stream one byte at a time, and vigild's mix of types.
    const std::string wire = arr + "-ERR no\r\n:42\r\n$5\r\nab\r\nc\r\n$0\r\n\r\n$-1\r\n";
    const auto whole = feed(wire, wire.size());
    const auto bytes = feed(wire, 1);
    CHECK(whole.error.empty());
    REQUIRE(whole.replies.size() == 7);
    CHECK(whole.replies == bytes.replies);
    CHECK(whole.replies[3].integer == 42);
    CHECK(whole.replies[4].str == "ab\r\nc");
    CHECK(whole.replies[5].type == Type::bulk);
    CHECK(whole.replies[5].str.empty());
    CHECK(whole.replies[6].type == Type::nil);
}

TEST_CASE("resp: nil bulks and arrays, empty and nested arrays", "[resp]") {
    const auto s = feed("$-1\r\n*-1\r\n*0\r\n*3\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n*0\r\n", 3);
    REQUIRE(s.error.empty());
    REQUIRE(s.replies.size() == 4);
    CHECK(s.replies[0].type == Type::nil);
    CHECK(s.replies[1].type == Type::nil);
    CHECK(s.replies[2].type == Type::array);
    CHECK(s.replies[2].items.empty());
    const auto& top = s.replies[3];
    REQUIRE(top.items.size() == 3);
    CHECK(top.items[0].type == Type::nil);
    CHECK(top.items[1].type == Type::nil);
    REQUIRE(top.items[2].items.size() == 2);
    CHECK(top.items[2].items[0].integer == 1);
    CHECK(top.items[2].items[1].type == Type::array);
}

TEST_CASE("resp: malformed replies are refused, saying why", "[resp]") {
    CHECK(refusal("?what\r\n") == "unexpected reply type '?'");
    CHECK(refusal("\x01\r\n") == "unexpected reply type '\\x01'");
    CHECK(refusal(":12x\r\n") == "a malformed integer reply '12x'");
    CHECK(refusal(":\r\n") == "a malformed integer reply ''");
    CHECK(refusal(":99999999999999999999\r\n") == "a malformed integer reply '99999999999999999999'");
    CHECK(refusal("$x\r\n") == "a malformed bulk length 'x'");
    CHECK(refusal("$-2\r\n") == "a malformed bulk length '-2'");
    CHECK(refusal("*1x\r\n") == "a malformed array length '1x'");
    CHECK(refusal("$2\r\nabc\r\n") == "a bulk reply longer than its length");
    CHECK(refusal("*2\r\n$1\r\na\r\n!\r\n") == "unexpected reply type '!'");
}

TEST_CASE("resp: vigild's limits: a long line or bulk is refused, not buffered", "[resp][redis]") {
    const auto& lim = vigil::core::redis::kLimits;
    std::size_t used = 0;
    std::string error;
    // Incomplete but within the limits: wait for more.
    CHECK_FALSE(resp::parse("+" + std::string(lim.max_line - 1, 'a'), used, error, lim));
    CHECK(error.empty());
    CHECK(refusal("+" + std::string(lim.max_line, 'a'), lim) == "a reply line longer than 65536 bytes");
    CHECK(refusal("$1048577\r\n", lim) == "a bulk reply of 1048577 bytes (at most 1048576)");
    CHECK_FALSE(resp::parse("$1048576\r\n", used, error, lim));  // at the limit: wait for the body
    CHECK(error.empty());
    const std::string body(lim.max_bulk, 'b');
    auto v = resp::parse("$1048576\r\n" + body + "\r\n", used, error, lim);
    REQUIRE(v);
    CHECK(v->str.size() == lim.max_bulk);
}

TEST_CASE("resp: a line over the limit is refused in pieces before its CRLF arrives", "[resp]") {
    resp::Limits lim;
    lim.max_line = 8;  // the type byte and 7 more
    CHECK(feed("+1234567\r\n", 1, lim).replies.size() == 1);
    // Refused at its ninth byte, whatever follows.
    const std::string long_line = "+12345678";
    for (std::size_t piece = 1; piece <= 4; ++piece) {
        const auto s = feed(long_line + std::string(100, 'x'), piece, lim);
        CHECK(s.error == "a reply line longer than 8 bytes");
        CHECK(s.most_held <= lim.max_line);
    }
    CHECK(refusal(long_line, lim) == "a reply line longer than 8 bytes");
    // A last '\r' may end the line: wait for the next byte to say.
    std::size_t used = 0;
    std::string error;
    CHECK_FALSE(resp::parse("+1234567\r", used, error, lim));
    CHECK(error.empty());
    CHECK(refusal("+1234567\rx", lim) == "a reply line longer than 8 bytes");
    // The same for a line inside an array and for a bulk header.
    CHECK(refusal("*1\r\n-23456789", lim) == "a reply line longer than 8 bytes");
    CHECK(refusal("$1234567890", lim) == "a reply line longer than 8 bytes");
}

TEST_CASE("resp: arrays over the item or depth limit are refused at their header", "[resp]") {
    resp::Limits lim;
    lim.max_items = 3;
    lim.max_depth = 2;
    CHECK(feed("*3\r\n:1\r\n:2\r\n*3\r\n:1\r\n:2\r\n:3\r\n", 2, lim).replies.size() == 1);
    CHECK(refusal("*4\r\n", lim) == "an array reply of 4 items (at most 3)");
    CHECK(refusal("*1\r\n*4\r\n", lim) == "an array reply of 4 items (at most 3)");
    CHECK(refusal("*1\r\n*1\r\n*1\r\n", lim) == "arrays nested deeper than 2");
    CHECK(refusal("*1\r\n*1\r\n*0\r\n", lim) == "arrays nested deeper than 2");
    // Nil arrays are not arrays: no depth.
    CHECK(feed("*1\r\n*1\r\n*-1\r\n", 1, lim).replies.size() == 1);
    lim.max_depth = 0;
    CHECK(refusal("*0\r\n", lim) == "an array reply (none expected)");
    CHECK(feed("*-1\r\n", 1, lim).replies.size() == 1);
    // The default depth, 8: a ninth level is refused, however it is split.
    std::string deep;
    for (int i = 0; i < 9; ++i) deep += "*1\r\n";
    CHECK(feed(deep + ":1\r\n", 1).error == "arrays nested deeper than 8");
    CHECK(feed(deep.substr(4) + ":1\r\n", 1).replies.size() == 1);
}

TEST_CASE("resp: a whole reply over max_reply is refused, never held past it", "[resp]") {
    resp::Limits lim;
    lim.max_reply = 32;
    // 32 bytes exactly: read.
    const std::string fits = "*2\r\n$7\r\n1234567\r\n$9\r\n123456789\r\n";
    REQUIRE(fits.size() == 32);
    CHECK(feed(fits, 1, lim).replies.size() == 1);
    // One byte more: refused once the 33rd byte is there, however split.
    const std::string over = "+" + std::string(30, 'a') + "\r\n";
    for (std::size_t piece = 1; piece <= 17; ++piece) {
        const auto s = feed(over, piece, lim);
        CHECK(s.error == "a reply longer than 32 bytes");
        CHECK(s.replies.empty());
        CHECK(s.most_held <= lim.max_reply);
    }
    // Or at once, at a header that cannot fit.
    CHECK(refusal("*2\r\n$7\r\n1234567\r\n$10\r\n", lim) == "a reply longer than 32 bytes");
    CHECK(refusal("*11\r\n", lim) == "a reply longer than 32 bytes");  // 3 bytes an element at least
    // Many replies in a row: each gets the limit anew.
    CHECK(feed(fits + fits + fits, 7, lim).replies.size() == 3);
}
