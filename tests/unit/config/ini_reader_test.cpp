#include "config/ini_reader.hpp"

#include "helpers.hpp"

using namespace cfgtest;
namespace ini = vigil::config::ini;

namespace {

ini::Document parse(std::string_view text) { return ini::parse(text, "f.ini"); }

}  // namespace

TEST_CASE("config: ini sections and keys keep their line numbers") {
    auto doc = parse("; comment\n"
                     "[program:a]\n"
                     "command = /bin/a\n"
                     "\n"
                     "# another comment\n"
                     "[program:b]\n"
                     "command=/bin/b\n"
                     "priority : 5\n");
    REQUIRE(doc.errors.empty());
    REQUIRE(doc.sections.size() == 2);
    CHECK(doc.sections[0].header == "program:a");
    CHECK(doc.sections[0].line == 2);
    REQUIRE(doc.sections[0].entries.size() == 1);
    CHECK(doc.sections[0].entries[0].key == "command");
    CHECK(doc.sections[0].entries[0].joined(" ") == "/bin/a");
    CHECK(doc.sections[0].entries[0].line == 3);
    CHECK(doc.sections[1].line == 6);
    REQUIRE(doc.sections[1].entries.size() == 2);
    CHECK(doc.sections[1].entries[1].key == "priority");
    CHECK(doc.sections[1].entries[1].joined(" ") == "5");
    CHECK(doc.sections[1].entries[1].line == 8);
}

TEST_CASE("config: ini keeps empty sections, which inih does not report") {
    auto doc = parse("[program:a]\n[program:b]\n");
    REQUIRE(doc.sections.size() == 2);
    CHECK(doc.sections[0].entries.empty());
    CHECK(doc.sections[1].line == 2);
}

TEST_CASE("config: ini continuation lines are kept as parts of their key") {
    auto doc = parse("[program:a]\n"
                     "command = /bin/sh -c\n"
                     "    'echo hi'\n"
                     "\n"
                     "\t  ; a comment between continuation lines\n"
                     "  --flag\n"
                     "priority = 3\n");
    REQUIRE(doc.errors.empty());
    const auto& e = doc.sections[0].entries;
    REQUIRE(e.size() == 2);
    CHECK(e[0].parts == std::vector<std::string>{"/bin/sh -c", "'echo hi'", "--flag"});
    CHECK(e[0].joined(" ") == "/bin/sh -c 'echo hi' --flag");
    CHECK(e[0].line == 2);
    CHECK(e[1].line == 7);
}

TEST_CASE("config: ini duplicate keys are all kept, in order") {
    auto doc = parse("[proxy:p]\nroute = /a up\nroute = /b up\n");
    REQUIRE(doc.sections[0].entries.size() == 2);
    CHECK(doc.sections[0].entries[0].parts[0] == "/a up");
    CHECK(doc.sections[0].entries[1].parts[0] == "/b up");
    CHECK(doc.sections[0].entries[1].line == 3);
}

TEST_CASE("config: ini inline comments need whitespace before the comment character, like supervisord") {
    auto doc = parse("[program:a]\ncommand = echo a;b ; the comment\n");
    REQUIRE(doc.errors.empty());
    CHECK(doc.sections[0].entries[0].joined(" ") == "echo a;b");
}

TEST_CASE("config: ini accepts CRLF line ends and a UTF-8 BOM") {
    auto doc = parse("\xEF\xBB\xBF[program:a]\r\ncommand = x\r\n");
    REQUIRE(doc.errors.empty());
    REQUIRE(doc.sections.size() == 1);
    CHECK(doc.sections[0].header == "program:a");
    CHECK(doc.sections[0].entries[0].joined(" ") == "x");
}

TEST_CASE("config: ini a line that is no section, key or comment is an error at its line") {
    auto doc = parse("[program:a]\ncommand = x\njust words\n[program:b]\nalso bad\n");
    REQUIRE(doc.errors.size() == 2);
    CHECK(doc.errors[0].loc.line == 3);
    CHECK(doc.errors[0].message == "expected 'key = value', '[section]' or a comment, got 'just words'");
    CHECK(doc.errors[1].loc.line == 5);
    CHECK(doc.errors[1].loc.file == "f.ini");
}

TEST_CASE("config: ini section header without closing bracket or with trailing text is an error") {
    auto doc = parse("[program:a\nkey = 1\n[program:b] junk\nkey = 2\n[program:c] ; fine\n[]\n");
    REQUIRE(doc.errors.size() == 3);
    CHECK(doc.errors[0].loc.line == 1);
    CHECK(doc.errors[0].message.find("missing its closing ']'") != std::string::npos);
    CHECK(doc.errors[1].loc.line == 3);
    CHECK(doc.errors[1].message.find("unexpected text after section header") != std::string::npos);
    CHECK(doc.errors[2].loc.line == 6);
    CHECK(doc.errors[2].message.find("empty section header") != std::string::npos);
    // Keys under a refused header go nowhere instead of into another section.
    REQUIRE(doc.sections.size() == 1);
    CHECK(doc.sections[0].header == "program:c");
    CHECK(doc.sections[0].entries.empty());
}

TEST_CASE("config: ini long section names are not cut at inih's 49 characters") {
    std::string name(70, 'n');
    auto doc = parse("[program:" + name + "]\ncommand = x\n");
    REQUIRE(doc.sections.size() == 1);
    CHECK(doc.sections[0].header == "program:" + name);
}

TEST_CASE("config: ini a key before any section is an error") {
    auto doc = parse("a = 1\n\n[program:x]\n");
    REQUIRE(doc.errors.size() == 1);
    CHECK(doc.errors[0].loc.line == 1);
    CHECK(doc.errors[0].message == "key 'a' comes before any [section]");
}

TEST_CASE("config: ini an empty key name is an error") {
    auto doc = parse("[program:a]\n= value\n");
    REQUIRE(doc.errors.size() == 1);
    CHECK(doc.errors[0].loc.line == 2);
}

TEST_CASE("config: ini a 199 character line is accepted, 200 is refused") {
    std::string ok_line = "command = " + std::string(189, 'x');
    REQUIRE(ok_line.size() == 199);
    auto doc = parse("[program:a]\n" + ok_line + "\n");
    REQUIRE(doc.errors.empty());
    CHECK(doc.sections[0].entries[0].joined(" ") == std::string(189, 'x'));

    std::string long_line = ok_line + "y";
    doc = parse("[program:a]\n" + long_line + "\n");
    REQUIRE(doc.errors.size() == 1);
    CHECK(doc.errors[0].loc.line == 2);
    CHECK(doc.errors[0].message ==
          "line too long (200 characters, the limit is 199): split it with indented continuation lines");
    CHECK(doc.sections[0].entries.empty());
    CHECK(doc.sections[0].damaged);
}

TEST_CASE("config: ini a refused long line takes its continuation lines with it") {
    auto doc = parse("[program:a]\ncommand = x\nenvironment = " + std::string(300, 'e') +
                     "\n  A=1\n  B=2\npriority = 4\n");
    REQUIRE(doc.errors.size() == 1);
    CHECK(doc.errors[0].loc.line == 3);
    CHECK(doc.errors[0].message.find("(314 characters") != std::string::npos);
    const auto& e = doc.sections[0].entries;
    REQUIRE(e.size() == 2);
    CHECK(e[0].parts == std::vector<std::string>{"x"});  // not extended by A=1, B=2
    CHECK(e[1].key == "priority");
    CHECK(e[1].line == 6);
}

TEST_CASE("config: ini a long line that is itself a continuation is an error at its line") {
    auto doc = parse("[program:a]\ncommand = x\n  " + std::string(250, 'y') + "\n");
    REQUIRE(doc.errors.size() == 1);
    CHECK(doc.errors[0].loc.line == 3);
}

TEST_CASE("config: ini a NUL byte is an error, not a silently cut line") {
    std::string text = "[program:a]\ncommand = ab";
    text += '\0';
    text += "cd\n";
    auto doc = parse(text);
    REQUIRE(doc.errors.size() == 1);
    CHECK(doc.errors[0].loc.line == 2);
    CHECK(doc.errors[0].message == "line contains a NUL byte");
}

TEST_CASE("config: ini an indented line at the start of a section is a key") {
    auto doc = parse("[program:a]\n   command = x\n");
    REQUIRE(doc.errors.empty());
    REQUIRE(doc.sections[0].entries.size() == 1);
    CHECK(doc.sections[0].entries[0].key == "command");
}

TEST_CASE("config: ini empty input and comment-only input give nothing") {
    CHECK(parse("").sections.empty());
    CHECK(parse("").errors.empty());
    auto doc = parse("; a\n# b\n\n   \n");
    CHECK(doc.sections.empty());
    CHECK(doc.errors.empty());
}

TEST_CASE("config: ini last line without a newline is read") {
    auto doc = parse("[program:a]\ncommand = x");
    REQUIRE(doc.sections[0].entries.size() == 1);
    CHECK(doc.sections[0].entries[0].joined(" ") == "x");
}
