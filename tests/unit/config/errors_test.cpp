#include <random>

#include "helpers.hpp"

using namespace cfgtest;

TEST_CASE("config: every error in a file is reported, in line order") {
    std::string nul_line = "command = x" + std::string(1, '\0') + "y";
    auto errs = errors("[vigil]\n"                          // 1
                       "log_level = loud\n"                 // 2
                       "[program:a]\n"                      // 3
                       "command = a\n"                      // 4
                       "startsecs = later\n"                // 5
                       "nonsense line\n"                    // 6
                       "[program:b]\n"                      // 7
                       + nul_line + "\n" +                  // 8
                       "depends_on = nobody\n"              // 9
                       "[mystery]\n"                        // 10
                       "[program:c]\n"                      // 11
                       "command = c %(bogus)s\n"            // 12
                       "stopsignal = NOPE\n");              // 13
    CHECK(errs == std::vector<std::string>{
                      "2: log_level: expected trace, debug, info, warn, error, critical or off, got 'loud'",
                      "5: startsecs: expected a duration such as 10s, 500ms, 1m30s or 2h (a bare number is seconds), "
                      "got 'later'",
                      "6: expected 'key = value', '[section]' or a comment, got 'nonsense line'",
                      "8: line contains a NUL byte",
                      "9: depends_on: unknown program or process 'nobody'",
                      "10: unknown section [mystery] (expected [vigil], [supervisord], [program:NAME], "
                      "[fcgi-program:NAME], [group:NAME], [include], [eventlistener:NAME], [upstream:NAME] or "
                      "[proxy:NAME])",
                      "12: command: unknown expansion %(bogus)s (known here: group_name, here, host_node_name, "
                      "program_name, numprocs, process_num, ENV_*)",
                      "13: stopsignal: expected a signal such as TERM, SIGINT, QUIT, KILL, HUP, USR1 or a number, "
                      "got 'NOPE'",
                  });
}

TEST_CASE("config: a refused command line does not also report the command as missing") {
    only_error("[program:a]\ncommand = c" + std::string(1, '\0') + "\n", 2, "NUL byte");
}

TEST_CASE("config: a refused config gives no Config at all") {
    LoadResult r = load("[program:good]\ncommand = g\n[program:bad]\ncommand = b\nstartsecs = ?\n");
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.config.has_value());
    CHECK(r.errors.size() == 1);
}

TEST_CASE("config: Error::to_string formats file:line: message") {
    CHECK(Error{{"/etc/vigil.ini", 12}, "bad"}.to_string() == "/etc/vigil.ini:12: bad");
    CHECK(Error{{"/etc/vigil.ini", 0}, "unreadable"}.to_string() == "/etc/vigil.ini: unreadable");
    CHECK(Error{{"", 0}, "plain"}.to_string() == "plain");
}

TEST_CASE("config: load_string uses the given name for errors and %(here)s") {
    LoadResult r = load_string("[program:a]\ncommand = %(here)s/a\n", "/opt/site/vigil.ini", {});
    REQUIRE(r.ok());
    CHECK(r.config->programs[0].command == "/opt/site/a");
    CHECK(r.config->file == "/opt/site/vigil.ini");
    r = load_string("[program:a]\n", "/opt/site/vigil.ini", {});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].to_string() == "/opt/site/vigil.ini:1: [program:a] needs command = ...");
}

TEST_CASE("config: ':' works as key separator, as in inih") {
    Config c = ok("[program:a]\ncommand: /bin/a\npriority: 3\n");
    CHECK(get(c, "a").command == "/bin/a");
    CHECK(get(c, "a").priority == 3);
}

TEST_CASE("config: environment_map reads the process environment") {
    ::setenv("VIGIL_CONFIG_TEST_VAR", "a=b", 1);
    auto env = environment_map();
    CHECK(env.at("VIGIL_CONFIG_TEST_VAR") == "a=b");
    ::unsetenv("VIGIL_CONFIG_TEST_VAR");
}

TEST_CASE("config: the loader never reads the process environment itself") {
    ::setenv("VIGIL_CONFIG_TEST_VAR", "x", 1);
    only_error("[program:a]\ncommand = %(ENV_VIGIL_CONFIG_TEST_VAR)s\n", 2,
               "environment variable VIGIL_CONFIG_TEST_VAR is not set");
    ::unsetenv("VIGIL_CONFIG_TEST_VAR");
}

TEST_CASE("config: a crafted config cannot make huge numbers of processes") {
    std::string text;
    for (int i = 0; i < 11; ++i)
        text += "[program:p" + std::to_string(i) + "]\ncommand = x\nnumprocs = 1000\nprocess_name = p" +
                std::to_string(i) + "_%(process_num)d\n";
    auto errs = errors(text);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0] == "41: too many processes (the limit is 10000)");
}

// Not a fuzzer, but the same promise: whatever the bytes, load_string returns
// (errors or a config) and never throws or crashes.
TEST_CASE("config: load_string survives mutated input") {
    const std::string seed = R"([vigil]
control_socket = /tmp/v.sock
[include]
files = /nonexistent/*.ini
[group:g]
programs = a, b
[program:a]
command = /bin/sh -c 'echo %(program_name)s'
numprocs = 2
process_name = a%(process_num)02d
environment = A="1,2",B=3
  C=4
healthcheck = http://127.0.0.1:80%(process_num)02d/
depends_on = b:healthy
address = 127.0.0.1:80%(process_num)02d
[program:b]
command = b
healthcheck = tcp://127.0.0.1:9
[upstream:u]
servers = a 127.0.0.1:1
[proxy:p]
listen = 0.0.0.0:80
route = / u
[program:proxy]
kind = proxy
)";
    REQUIRE(load(seed).ok());
    std::mt19937 rng(12345);
    const std::string alphabet = "[]:=;#%()sd \t\n\r\\\"',/._-0123456789abcdefghijklmnopqrstuvwxyzENV_";
    int loaded = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string text = seed;
        int edits = 1 + static_cast<int>(rng() % 8);
        for (int e = 0; e < edits; ++e) {
            std::size_t pos = text.empty() ? 0 : rng() % text.size();
            switch (rng() % 5) {
                case 0: if (!text.empty()) text.erase(pos, 1 + rng() % 10); break;
                case 1: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
                case 2: if (!text.empty()) text[pos] = static_cast<char>(rng() % 256); break;
                case 3: text.insert(pos, text.substr(rng() % text.size(), rng() % 40)); break;
                case 4: text.insert(pos, std::string(rng() % 300, 'x')); break;
            }
        }
        LoadOptions o;
        o.follow_includes = (round % 2) == 0;
        LoadResult r = load_string(text, "/tmp/fuzz.ini", o);
        CHECK(r.ok() == r.errors.empty());
        if (r.ok()) ++loaded;
        for (const auto& err : r.errors) CHECK_FALSE(err.message.empty());
    }
    CHECK(loaded > 0);  // some mutations stay valid, so both paths ran
}
