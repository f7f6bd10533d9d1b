#include "helpers.hpp"

using namespace cfgtest;

TEST_CASE("config: depends_on names programs, expanded to all their processes") {
    Config c = ok(R"([program:db]
command = db
healthcheck = tcp://127.0.0.1:5432
[program:cache]
command = c
[program:api]
command = api
numprocs = 2
process_name = api%(process_num)d
depends_on = db:healthy cache
[program:web]
command = w
depends_on = api1:started
)");
    const Program& api0 = get(c, "api0");
    REQUIRE(api0.depends_on.size() == 2);
    CHECK(api0.depends_on[0] == Dependency{"db", DependencyCondition::healthy, SourceLoc{kFile, 10}});
    CHECK(api0.depends_on[1] == Dependency{"cache", DependencyCondition::started, SourceLoc{kFile, 10}});
    CHECK(get(c, "api1").depends_on == api0.depends_on);
    const Program& web = get(c, "web");
    REQUIRE(web.depends_on.size() == 1);
    CHECK(web.depends_on[0].name == "api1");
    CHECK(web.depends_on[0].condition == DependencyCondition::started);
}

TEST_CASE("config: depends_on a numprocs program lists every process") {
    Config c = ok(R"([program:w]
command = w
numprocs = 3
process_name = w%(process_num)d
[program:lb]
command = lb
depends_on = w
)");
    const auto& deps = get(c, "lb").depends_on;
    REQUIRE(deps.size() == 3);
    CHECK(deps[0].name == "w0");
    CHECK(deps[1].name == "w1");
    CHECK(deps[2].name == "w2");
}

TEST_CASE("config: depends_on can pair instances through %(process_num)d") {
    Config c = ok(R"([program:shard]
command = s
numprocs = 2
process_name = shard%(process_num)d
[program:worker]
command = w
numprocs = 2
process_name = worker%(process_num)d
depends_on = shard%(process_num)d
)");
    CHECK(get(c, "worker0").depends_on.at(0).name == "shard0");
    CHECK(get(c, "worker1").depends_on.at(0).name == "shard1");
    CHECK(get(c, "worker1").depends_on.size() == 1);
}

TEST_CASE("config: a dependency named twice is kept once, the stricter condition wins") {
    Config c = ok("[program:db]\ncommand = db\nhealthcheck = tcp://127.0.0.1:1\n"
                  "[program:a]\ncommand = a\ndepends_on = db, db:healthy db\n");
    const auto& deps = get(c, "a").depends_on;
    REQUIRE(deps.size() == 1);
    CHECK(deps[0].condition == DependencyCondition::healthy);
}

TEST_CASE("config: unknown dependencies and bad conditions are errors at the depends_on line") {
    only_error("[program:a]\ncommand = a\ndepends_on = ghost\n", 3, "depends_on: unknown program or process 'ghost'");
    only_error("[program:a]\ncommand = a\ndepends_on = b:ready\n[program:b]\ncommand = b\n", 3,
               "depends_on: expected NAME, NAME:started or NAME:healthy, got 'b:ready'");
    only_error("[program:a]\ncommand = a\ndepends_on = b:healthy\n[program:b]\ncommand = b\n", 3,
               "depends_on: b:healthy can never be met: b has no healthcheck");
    only_error("[program:a]\ncommand = a\ndepends_on = b/c\n", 3, "'b/c' is not a valid program or process name");
}

TEST_CASE("config: a dependency cycle is named, at the depends_on line of its first program") {
    auto errs = errors(R"([program:a]
command = a
depends_on = b
[program:b]
command = b
depends_on = c
[program:c]
command = c
depends_on = a
)");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0] == "3: dependency cycle: a -> b -> c -> a");
}

TEST_CASE("config: a program depending on itself is a cycle") {
    auto errs = errors("[program:a]\ncommand = a\ndepends_on = a\n");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0] == "3: dependency cycle: a -> a");
}

TEST_CASE("config: two separate cycles are both reported, downstream programs are not") {
    auto errs = errors(R"([program:a]
command = a
depends_on = b
[program:b]
command = b
depends_on = a
[program:c]
command = c
depends_on = d
[program:d]
command = d
depends_on = c
[program:e]
command = e
depends_on = a c
)");
    REQUIRE(errs.size() == 2);
    CHECK(errs[0] == "3: dependency cycle: a -> b -> a");
    CHECK(errs[1] == "9: dependency cycle: c -> d -> c");
}

TEST_CASE("config: a cycle through numprocs processes is reported once") {
    auto errs = errors(R"([program:web]
command = w
numprocs = 2
process_name = web%(process_num)d
depends_on = db
[program:db]
command = d
depends_on = web
)");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0] == "5: dependency cycle: web0 -> db -> web0");
}

TEST_CASE("config: programs are ordered dependencies first, then priority, then name") {
    Config c = ok(R"([program:zeta]
command = z
priority = 1
[program:app]
command = a
depends_on = db cache
priority = 1
[program:db]
command = d
priority = 500
[program:cache]
command = c
priority = 100
[program:alpha]
command = x
[program:beta]
command = x
)");
    CHECK(names(c) == std::vector<std::string>{"zeta", "cache", "db", "app", "alpha", "beta"});
}

TEST_CASE("config: group priority orders grouped programs before their own priority") {
    Config c = ok(R"([group:late]
programs = a, b
priority = 900
[program:a]
command = a
priority = 1
[program:b]
command = b
priority = 2
[program:c]
command = c
priority = 500
)");
    CHECK(names(c) == std::vector<std::string>{"c", "a", "b"});
}

TEST_CASE("config: order is the same whatever the order of sections in the file") {
    const char* parts[] = {"[program:a]\ncommand = a\ndepends_on = c\n", "[program:b]\ncommand = b\n",
                           "[program:c]\ncommand = c\npriority = 5\n", "[program:d]\ncommand = d\ndepends_on = b\n"};
    std::vector<int> idx{0, 1, 2, 3};
    std::vector<std::string> first;
    do {
        std::string text;
        for (int i : idx) text += parts[i];
        auto order = names(ok(text));
        if (first.empty()) first = order;
        CHECK(order == first);
    } while (std::next_permutation(idx.begin(), idx.end()));
    CHECK(first == std::vector<std::string>{"c", "a", "b", "d"});
}
