// vigilctl's bash completion, sourced into a real bash and asked as Tab
// asks it, against a running vigild.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace vigil::test;

namespace {

// What Tab offers for `words` (the last one is the word being completed).
std::vector<std::string> complete(const Vigild& v, const std::vector<std::string>& words) {
    std::string script = "source '" + std::string(VIGIL_SOURCE_DIR) +
                         "/supervisor/ctl/vigilctl-completion.bash'; COMP_WORDS=('" + VIGILCTL_PATH + "' -s '" +
                         v.socket_path() + "'";
    for (const auto& w : words) script += " '" + w + "'";
    script += "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _vigilctl; printf '%s\\n' \"${COMPREPLY[@]}\"";
    std::string out;
    REQUIRE(run({"bash", "-c", script}, &out) == 0);
    auto lines = lines_of(out);
    std::sort(lines.begin(), lines.end());
    lines.erase(std::remove(lines.begin(), lines.end(), std::string()), lines.end());
    return lines;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("completion: bash completes verbs, and process and group names from the running vigild", "[integration]") {
    Vigild v("[program:web]\ncommand = " + child_path() + "\nnumprocs = 2\nprocess_name = web-%(process_num)d\n"
             "startsecs = 0\n\n[program:db]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("web-1: STARTING -> RUNNING"));

    const auto verbs = complete(v, {"st"});
    INFO(verbs.size() << " offered");
    CHECK(verbs == std::vector<std::string>{"start", "status", "stop"});
    CHECK(has(complete(v, {""}), "reopen"));

    const auto names = complete(v, {"restart", ""});
    CHECK(has(names, "web-0"));
    CHECK(has(names, "web-1"));
    CHECK(has(names, "db"));
    CHECK(has(names, "web"));
    CHECK(has(names, "web:*"));
    CHECK(has(names, "all"));
    CHECK(complete(v, {"stop", "web-"}) == std::vector<std::string>{"web-0", "web-1"});
    CHECK(complete(v, {"tail", "-f", "db", ""}) == std::vector<std::string>{"stderr", "stdout"});
    CHECK(has(complete(v, {"signal", "U"}), "USR1"));
    CHECK(complete(v, {"wait", "--h"}) == std::vector<std::string>{"--healthy"});

    // A program added by an update completes at the next Tab.
    write_file(v.config_path(), read_file(v.config_path()) + "\n[program:cache]\ncommand = " + child_path() +
                                    "\nstartsecs = 0\n");
    std::string updated;
    REQUIRE(v.ctl({"update"}, &updated) == 0);
    INFO(updated);
    CHECK(complete(v, {"start", "ca"}) == std::vector<std::string>{"cache", "cache:*"});
}
