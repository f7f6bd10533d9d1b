#include <catch2/catch.hpp>

#include "supervisor/core/config_diff.hpp"

using vigil::config::Program;
using vigil::core::diff_programs;
using vigil::core::select;

namespace {
Program prog(std::string name, std::string command, std::string section = "") {
    Program p;
    p.name = name;
    p.program = section.empty() ? name : section;
    p.group = p.program;
    p.command = std::move(command);
    return p;
}
using Names = std::vector<std::string>;
}  // namespace

TEST_CASE("config diff: added, changed, removed and unchanged by process name", "[diff]") {
    const std::vector<Program> old{prog("a", "x"), prog("b", "y"), prog("c", "z")};
    const std::vector<Program> next{prog("a", "x"), prog("b", "y2"), prog("d", "w")};
    const auto d = diff_programs(old, next);
    CHECK(d.added == Names{"d"});
    CHECK(d.changed == Names{"b"});
    CHECK(d.removed == Names{"c"});
    CHECK(d.unchanged == Names{"a"});
    CHECK_FALSE(d.empty());
}

TEST_CASE("config diff: a moved line (other source location) changes nothing", "[diff]") {
    Program a = prog("a", "x"), a2 = prog("a", "x");
    a.loc = {"f.ini", 3};
    a2.loc = {"f.ini", 9};
    const auto d = diff_programs({a}, {a2});
    CHECK(d.empty());
    CHECK(d.unchanged == Names{"a"});
}

TEST_CASE("config diff: numprocs 2 -> 3 adds one process and keeps two", "[diff]") {
    std::vector<Program> old{prog("w-0", "x", "w"), prog("w-1", "x", "w")};
    std::vector<Program> next{prog("w-0", "x", "w"), prog("w-1", "x", "w"), prog("w-2", "x", "w")};
    for (auto& p : old) p.numprocs = 2;
    for (auto& p : next) p.numprocs = 3;
    const auto d = diff_programs(old, next);
    CHECK(d.added == Names{"w-2"});
    CHECK(d.unchanged == Names{"w-0", "w-1"});
}

TEST_CASE("config diff: update NAME applies only what NAME selects", "[diff]") {
    const std::vector<Program> old{prog("a", "x"), prog("b", "y"), prog("w-0", "x", "w")};
    const std::vector<Program> next{prog("a", "x2"), prog("b", "y2"), prog("w-0", "x2", "w"), prog("w-1", "x2", "w")};
    const auto all = diff_programs(old, next);
    const auto only_w = select(all, old, next, {"w"});
    CHECK(only_w.changed == Names{"w-0"});
    CHECK(only_w.added == Names{"w-1"});
    CHECK(only_w.unchanged == Names{"a", "b"});
    const auto only_a = select(all, old, next, {"a"});
    CHECK(only_a.changed == Names{"a"});
    CHECK(only_a.added.empty());
}

TEST_CASE("config diff: a new image (read only by vigilctl export) restarts nothing", "[diff]") {
    Program a = prog("a", "x"), b = prog("a", "x");
    b.image = "registry.example.com/a:2";
    const auto d = diff_programs({a}, {b});
    CHECK(d.unchanged == Names{"a"});
    CHECK(d.changed.empty());
}

TEST_CASE("config diff: a changed [proxy:*] section changes the kind = proxy program", "[diff]") {
    vigil::config::Config a;
    a.programs = {prog("app", "x"), prog("proxy", "")};
    a.programs[1].kind = "proxy";
    vigil::config::Proxy px;
    px.name = "web";
    px.listen = "127.0.0.1:8080";
    px.routes = {{"/", "app"}};
    a.proxies = {px};
    vigil::config::Config b = a;
    b.proxies[0].loc.line = 12;  // moved in the file: no change
    CHECK(vigil::core::diff_config(a, b).changed.empty());
    b.proxies[0].routes.push_back({"/api/", "app"});
    const auto d = vigil::core::diff_config(a, b);
    CHECK(d.changed == Names{"proxy"});
    CHECK(d.unchanged == Names{"app"});
}
