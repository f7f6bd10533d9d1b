// supervisor/output_filters: ANSI stripping and syslog lines, across reads
// that cut an escape sequence or a line anywhere. The syslog sink is the
// seam; tests/integration/supervisord_run_test.cpp checks that real
// syslog(3) lines arrive at /dev/log.
#include "supervisor/output_filters.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using vigil::supervisor::AnsiStripper;
using vigil::supervisor::SyslogLines;

namespace {

std::string strip_in_pieces(const std::string& text, std::size_t piece) {
    AnsiStripper s;
    std::string out, part;
    for (std::size_t i = 0; i < text.size(); i += piece) {
        s.filter(std::string_view(text).substr(i, piece), part);
        out += part;
    }
    return out;
}

}  // namespace

TEST_CASE("output filters: ANSI colour and cursor sequences are stripped, wherever reads split them") {
    const std::string text = "\x1b[1;31mred\x1b[0m plain \x1b[2K\x1b[10;5Hmoved\n";
    for (std::size_t piece : {1u, 2u, 3u, 7u, 100u}) {
        INFO("piece " << piece);
        CHECK(strip_in_pieces(text, piece) == "red plain moved\n");
    }
    // A lone ESC (not followed by '[') is kept, as supervisord keeps it.
    CHECK(strip_in_pieces("a\x1bxb", 1) == "a\x1bxb");
}

TEST_CASE("output filters: syslog gets one message per line, tagged, the unfinished line kept") {
    std::vector<std::pair<std::string, std::string>> sent;
    SyslogLines lines("web_01", [&](const std::string& ident, std::string_view line) {
        sent.emplace_back(ident, std::string(line));
    });
    lines.feed("first\nsec");
    REQUIRE(sent.size() == 1);
    lines.feed("ond\r\n\nthird");
    lines.flush();
    REQUIRE(sent.size() == 4);
    CHECK(sent[0] == std::make_pair(std::string("web_01"), std::string("first")));
    CHECK(sent[1].second == "second");
    CHECK(sent[2].second.empty());
    CHECK(sent[3].second == "third");
    lines.flush();
    CHECK(sent.size() == 4);
}

TEST_CASE("output filters: a line without end is sent in bounded pieces") {
    std::vector<std::string> sent;
    SyslogLines lines("p", [&](const std::string&, std::string_view line) { sent.emplace_back(line); });
    const std::string big(SyslogLines::kMaxLine * 2 + 10, 'x');
    lines.feed(big.substr(0, 5000));
    lines.feed(big.substr(5000) + "\n");
    REQUIRE(sent.size() == 3);
    CHECK(sent[0].size() == SyslogLines::kMaxLine);
    CHECK(sent[1].size() == SyslogLines::kMaxLine);
    CHECK(sent[2].size() == 10);
}
