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
    // The blank line is kept as an empty part, as configparser keeps it.
    CHECK(e[0].parts == std::vector<std::string>{"/bin/sh -c", "'echo hi'", "", "--flag"});
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

TEST_CASE("config: ini section header without closing bracket is an error, trailing text a warning") {
    auto doc = parse("[program:a\nkey = 1\n[program:b] junk\nkey = 2\n[program:c] ; fine\n[]\n");
    REQUIRE(doc.errors.size() == 2);
    CHECK(doc.errors[0].loc.line == 1);
    CHECK(doc.errors[0].message.find("missing its closing ']'") != std::string::npos);
    CHECK(doc.errors[1].loc.line == 6);
    CHECK(doc.errors[1].message.find("empty section header") != std::string::npos);
    // configparser ignores what follows the header's last ']'.
    REQUIRE(doc.warnings.size() == 1);
    CHECK(doc.warnings[0].loc.line == 3);
    CHECK(doc.warnings[0].message == "text after the section header is ignored: 'junk'");
    // Keys under a refused header go nowhere instead of into another section.
    REQUIRE(doc.sections.size() == 2);
    CHECK(doc.sections[0].header == "program:b");
    CHECK(doc.sections[0].entries.size() == 1);
    CHECK(doc.sections[1].header == "program:c");
    CHECK(doc.sections[1].entries.empty());
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
    CHECK(doc.errors[0].message == "'a = 1' comes before any [section]");
}

TEST_CASE("config: ini an empty key name is an error") {
    auto doc = parse("[program:a]\n= value\n");
    REQUIRE(doc.errors.size() == 1);
    CHECK(doc.errors[0].loc.line == 2);
}

TEST_CASE("config: ini has no line-length limit: a 10,000 character line is read whole") {
    std::string value(10000, 'x');
    auto doc = parse("[program:a]\ncommand = " + value + "\n  " + value + "\n[program:" + std::string(300, 'n') + "]\n");
    REQUIRE(doc.errors.empty());
    REQUIRE(doc.sections.size() == 2);
    CHECK(doc.sections[0].entries[0].joined(" ") == value + " " + value);
    CHECK(doc.sections[1].header == "program:" + std::string(300, 'n'));
}

TEST_CASE("config: ini keys are lowercased, section headers keep their case") {
    auto doc = parse("[Program:Web]\nCommand = /bin/X\nSTDOUT_LOGFILE: NONE\n");
    REQUIRE(doc.errors.empty());
    CHECK(doc.sections[0].header == "Program:Web");
    CHECK(doc.sections[0].entries[0].key == "command");
    CHECK(doc.sections[0].entries[0].joined(" ") == "/bin/X");
    CHECK(doc.sections[0].entries[1].key == "stdout_logfile");
}

TEST_CASE("config: ini a hash or semicolon after whitespace starts an inline comment, inside a word it does not") {
    auto doc = parse("[program:a]\n"
                     "command = /bin/sleep 100  # keep alive\n"
                     "url = http://h/p#frag ;comment\n"
                     "x = a;b#c\n"
                     "y = 1\t#tab\n");
    REQUIRE(doc.errors.empty());
    const auto& e = doc.sections[0].entries;
    CHECK(e[0].joined(" ") == "/bin/sleep 100");
    CHECK(e[1].joined(" ") == "http://h/p#frag");
    CHECK(e[2].joined(" ") == "a;b#c");
    CHECK(e[3].joined(" ") == "1");
}

TEST_CASE("config: ini the inline comment rounds of configparser are kept") {
    // configparser takes the next ';' and the next '#' in rounds and stops
    // at the first round in which one follows whitespace. In v, round 1 sees
    // "x#1" (no) and " ;3" (yes): the value keeps " #2", which round 2 would
    // have found. Python 3.11 reads 'x#1 #2' (checked with configparser).
    auto doc = parse("[s]\na = p;q r #c ;d\nv = x#1 #2 ;3\n");
    REQUIRE(doc.errors.empty());
    CHECK(doc.sections[0].entries[0].joined(" ") == "p;q r");
    CHECK(doc.sections[0].entries[1].joined(" ") == "x#1 #2");
}

TEST_CASE("config: ini a key set twice keeps both entries, the reader decides nothing") {
    auto doc = parse("[program:a]\ncommand = one\ncommand = two\n[program:a]\ncommand = three\n");
    REQUIRE(doc.errors.empty());
    REQUIRE(doc.sections.size() == 2);
    CHECK(doc.sections[0].entries.size() == 2);
    CHECK(doc.sections[1].entries[0].line == 5);
    CHECK(doc.sections[1].entries[0].file == "f.ini");
}

TEST_CASE("config: ini continuation is by indentation deeper than the key's line") {
    auto doc = parse("[s]\n"
                     "  a = 1\n"      // an indented key
                     "  b = 2\n"      // same indentation: another key
                     "     more\n"    // deeper: b's continuation
                     "\n"
                     "     after blank\n"  // a blank line does not end the value
                     "c: 3\n");
    REQUIRE(doc.errors.empty());
    const auto& e = doc.sections[0].entries;
    REQUIRE(e.size() == 3);
    CHECK(e[0].key == "a");
    CHECK(e[1].parts == std::vector<std::string>{"2", "more", "", "after blank"});
    CHECK(e[1].joined(" ") == "2 more after blank");
    CHECK(e[2].key == "c");
    CHECK(e[2].joined(" ") == "3");
}

TEST_CASE("config: ini the first '=' or ':' splits key and value") {
    auto doc = parse("[s]\nurl: http://x:80/a=b\nk = v: w\n");
    REQUIRE(doc.errors.empty());
    CHECK(doc.sections[0].entries[0].key == "url");
    CHECK(doc.sections[0].entries[0].joined(" ") == "http://x:80/a=b");
    CHECK(doc.sections[0].entries[1].joined(" ") == "v: w");
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
