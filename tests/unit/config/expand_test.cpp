#include "config/expand.hpp"

#include "helpers.hpp"

using namespace cfgtest;

namespace {

struct Fixture {
    std::map<std::string, std::string> env{{"HOME", "/home/v"}, {"EMPTY", ""}};
    ExpandVars vars;
    Fixture() {
        vars.strings = {{"program_name", "web"}, {"here", "/etc/vigil"}};
        vars.numbers = {{"process_num", 7}};
        vars.env = &env;
    }
    std::string run(std::string_view text) {
        std::string error;
        auto out = expand(text, vars, error);
        INFO(error);
        REQUIRE(out);
        return *out;
    }
    std::string fail(std::string_view text) {
        std::string error;
        auto out = expand(text, vars, error);
        REQUIRE_FALSE(out);
        REQUIRE_FALSE(error.empty());
        return error;
    }
};

}  // namespace

TEST_CASE("config: expand names, numbers and literal percent") {
    Fixture f;
    CHECK(f.run("plain") == "plain");
    CHECK(f.run("") == "");
    CHECK(f.run("%(program_name)s") == "web");
    CHECK(f.run("%(program_name)s_%(process_num)d") == "web_7");
    CHECK(f.run("%(process_num)s") == "7");
    CHECK(f.run("%(here)s/conf") == "/etc/vigil/conf");
    CHECK(f.run("100%%") == "100%");
    CHECK(f.run("date +%%s") == "date +%s");
    CHECK(f.run("%%(program_name)s") == "%(program_name)s");
}

TEST_CASE("config: expand width, zero padding and precision like Python") {
    Fixture f;
    CHECK(f.run("%(process_num)02d") == "07");
    CHECK(f.run("%(process_num)03d") == "007");
    CHECK(f.run("%(process_num)3d") == "  7");
    CHECK(f.run("%(process_num)-3d|") == "7  |");
    CHECK(f.run("%(process_num)+d") == "+7");
    CHECK(f.run("%(process_num).3d") == "007");
    CHECK(f.run("%(process_num)i") == "7");
    CHECK(f.run("%(program_name)5s") == "  web");
    CHECK(f.run("%(program_name)-5s|") == "web  |");
    CHECK(f.run("%(program_name).2s") == "we");
    CHECK(f.run("%(process_num)01d") == "7");
}

TEST_CASE("config: expand environment variables from the options, not the process") {
    Fixture f;
    CHECK(f.run("%(ENV_HOME)s/x") == "/home/v/x");
    CHECK(f.run("[%(ENV_EMPTY)s]") == "[]");
    CHECK(f.fail("%(ENV_NOPE)s") == "environment variable NOPE is not set (in %(ENV_NOPE)s)");
}

TEST_CASE("config: expand refuses unknown names and malformed specs") {
    Fixture f;
    CHECK(f.fail("%(nope)s").find("unknown expansion %(nope)s") == 0);
    CHECK(f.fail("%(nope)s").find("program_name") != std::string::npos);  // lists what is known
    CHECK(f.fail("50%").find("lone '%'") != std::string::npos);
    CHECK(f.fail("50% off").find("lone '%'") != std::string::npos);
    CHECK(f.fail("%(program_name").find("missing ')'") != std::string::npos);
    CHECK(f.fail("%(program_name)").find("incomplete expansion") != std::string::npos);
    CHECK(f.fail("%(program_name)x").find("unsupported conversion 'x'") != std::string::npos);
    CHECK(f.fail("%(program_name)d").find("needs a number") != std::string::npos);
}

TEST_CASE("config: expand caps padding so a few characters cannot make megabytes") {
    Fixture f;
    CHECK(f.run("%(process_num)064d").size() == 64);
    CHECK(f.fail("%(process_num)065d").find("width or precision") != std::string::npos);
    CHECK(f.fail("%(process_num)099999999999d").find("width or precision") != std::string::npos);
}

TEST_CASE("config: expand without env map treats ENV_ names as unknown") {
    ExpandVars vars;
    std::string error;
    CHECK_FALSE(expand("%(ENV_HOME)s", vars, error));
    CHECK(error.find("unknown expansion") == 0);
}
