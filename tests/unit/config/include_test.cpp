#include <sys/stat.h>
#include <unistd.h>

#include "helpers.hpp"

using namespace cfgtest;

TEST_CASE("config: [include] reads globs relative to the including file") {
    TempDir d;
    std::string main = d.write("vigil.ini", "[include]\nfiles = conf.d/*.ini extra.ini\n[program:main]\ncommand = m\n");
    d.write("conf.d/b.ini", "[program:b]\ncommand = b %(here)s\n");
    d.write("conf.d/a.ini", "[program:a]\ncommand = a\n");
    d.write("conf.d/ignored.conf", "[program:ignored]\ncommand = i\n");
    d.write("extra.ini", "[vigil]\nlog_dir = %(here)s/logs\n");
    LoadResult r = load_file(main, {});
    INFO(dump(r));
    REQUIRE(r.ok());
    const Config& c = *r.config;
    CHECK(names(c) == std::vector<std::string>{"a", "b", "main"});
    CHECK(get(c, "b").command == "b " + d.str("conf.d"));
    CHECK(get(c, "b").loc == SourceLoc{d.str("conf.d/b.ini"), 1});
    CHECK(c.daemon.log_dir == d.str("logs"));
    CHECK(c.file == main);
}

TEST_CASE("config: includes nest, each relative to its own file") {
    TempDir d;
    std::string main = d.write("main.ini", "[include]\nfiles = sub/level1.ini\n");
    d.write("sub/level1.ini", "[include]\nfiles = deeper/level2.ini\n[program:one]\ncommand = 1\n");
    d.write("sub/deeper/level2.ini", "[program:two]\ncommand = 2\n");
    LoadResult r = load_file(main, {});
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(names(*r.config) == std::vector<std::string>{"one", "two"});
}

TEST_CASE("config: a glob matching nothing is fine, a missing plain file is an error") {
    TempDir d;
    std::string main = d.write("main.ini", "[include]\nfiles = nothing/*.ini\n[program:a]\ncommand = a\n");
    LoadResult r = load_file(main, {});
    INFO(dump(r));
    CHECK(r.ok());

    main = d.write("main2.ini", "[program:a]\ncommand = a\n[include]\nfiles = missing.ini\n");
    r = load_file(main, {});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].loc == SourceLoc{main, 4});
    CHECK(r.errors[0].message == "files: included file not found: '" + d.str("missing.ini") + "'");
}

TEST_CASE("config: an include loop is an error naming the chain") {
    TempDir d;
    std::string a = d.write("a.ini", "[include]\nfiles = b.ini\n[program:a]\ncommand = a\n");
    d.write("b.ini", "[program:b]\ncommand = b\n[include]\nfiles = a.ini\n");
    LoadResult r = load_file(a, {});
    INFO(dump(r));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].loc == SourceLoc{d.str("b.ini"), 4});
    CHECK(r.errors[0].message == "include loop: " + a + " -> " + d.str("b.ini") + " -> " + d.str("a.ini"));
}

TEST_CASE("config: a file including itself through a glob is a loop") {
    TempDir d;
    std::string main = d.write("vigil.ini", "[include]\nfiles = *.ini\n");
    LoadResult r = load_file(main, {});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].loc.line == 2);
    CHECK(r.errors[0].message.rfind("include loop: ", 0) == 0);
}

TEST_CASE("config: a file reached by two patterns is read once") {
    TempDir d;
    std::string main = d.write("main.ini", "[include]\nfiles = conf.d/*.ini conf.d/a.ini\n");
    d.write("conf.d/a.ini", "[program:a]\ncommand = a\n");
    LoadResult r = load_file(main, {});
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(names(*r.config) == std::vector<std::string>{"a"});
}

TEST_CASE("config: errors in included files name that file and line") {
    TempDir d;
    std::string main = d.write("main.ini", "[include]\nfiles = bad.ini\n[program:a]\ncommand = a\nwhat\n");
    d.write("bad.ini", "[program:b]\ncommand = b\nstartsecs = never\n[program:a]\ncommand = again\n");
    LoadResult r = load_file(main, {});
    REQUIRE(r.errors.size() == 2);
    // Ordered by file (as first reported), then line.
    CHECK(r.errors[0].to_string() == main + ":5: expected 'key = value', '[section]' or a comment, got 'what'");
    CHECK(r.errors[1].to_string() == d.str("bad.ini") + ":3: startsecs: expected a duration such as 10s, 500ms, "
                                                         "1m30s or 2h (a bare number is seconds), got 'never'");
    // [program:a] repeated in bad.ini merges into main.ini's, as in supervisord.
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].to_string() == d.str("bad.ini") + ":5: 'command' is set again in [program:a] (first at " +
                                           main + ":4): this value wins, as in supervisord");
}

TEST_CASE("config: a section split across included files is merged, keys from either file") {
    TempDir d;
    std::string main = d.write("main.ini", "[program:web]\ncommand = %(here)s/web\npriority = 5\n"
                                           "[include]\nfiles = conf.d/*.conf\n");
    d.write("conf.d/web.conf", "[program:web]\ndirectory = %(here)s\nPriority = 7\n");
    LoadResult r = load_file(main, {});
    INFO(dump(r));
    REQUIRE(r.ok());
    const auto& p = r.config->programs.at(0);
    CHECK(p.command == d.str("web"));
    CHECK(p.directory == d.str("conf.d"));  // %(here)s of the file the key is in
    CHECK(p.priority == 7);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].loc.file == d.str("conf.d/web.conf"));
    CHECK(r.warnings[0].loc.line == 3);
}

TEST_CASE("config: [include] patterns expand %(here)s and environment variables") {
    TempDir d;
    LoadOptions o;
    o.env = {{"CONF", "site"}};
    std::string main = d.write("main.ini", "[include]\nfiles = %(here)s/%(ENV_CONF)s.ini\n");
    d.write("site.ini", "[program:s]\ncommand = s\n");
    LoadResult r = load_file(main, o);
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(names(*r.config) == std::vector<std::string>{"s"});
}

TEST_CASE("config: [include] needs files and knows no other key") {
    only_error("[include]\n", 1, "[include] needs files = PATTERN");
    only_error("[include]\nfiles = *.nothing\nfile = x\n", 3, "unknown key 'file' in [include]");
}

TEST_CASE("config: [include] can be turned off for self-contained loads") {
    LoadOptions o;
    o.follow_includes = false;
    only_error("[include]\nfiles = /etc/passwd\n", 1, "[include] is disabled", o);
}

TEST_CASE("config: included directories and devices are refused") {
    TempDir d;
    d.write("dir.ini/placeholder", "");
    std::string main = d.write("main.ini", "[include]\nfiles = dir.ini /dev/null\n");
    LoadResult r = load_file(main, {});
    REQUIRE(r.errors.size() == 2);
    CHECK(r.errors[0].message == "files: cannot read included file '" + d.str("dir.ini") + "': is a directory");
    CHECK(r.errors[1].message == "files: cannot read included file '/dev/null': not a regular file");
}

TEST_CASE("config: an unreadable included file is an error") {
    if (::geteuid() == 0) SUCCEED("root reads everything; permission cannot be tested");
    else {
        TempDir d;
        std::string secret = d.write("secret.ini", "[program:s]\ncommand = s\n");
        ::chmod(secret.c_str(), 0);
        std::string main = d.write("main.ini", "[include]\nfiles = secret.ini\n");
        LoadResult r = load_file(main, {});
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].loc.line == 2);
        CHECK(r.errors[0].message.find("Permission denied") != std::string::npos);
    }
}

TEST_CASE("config: a missing main file is an error without a line") {
    TempDir d;
    LoadResult r = load_file(d.str("nope.ini"), {});
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].loc.line == 0);
    CHECK(r.errors[0].to_string() == d.str("nope.ini") + ": cannot read config file: No such file or directory");
}
