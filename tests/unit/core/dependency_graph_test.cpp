#include <catch2/catch.hpp>

#include <map>

#include "supervisor/core/dependency_graph.hpp"

using vigil::config::Dependency;
using vigil::config::DependencyCondition;
using vigil::config::Program;
using vigil::core::DependencyGraph;

namespace {
Program prog(std::string name, std::vector<std::string> deps) {
    Program p;
    p.name = std::move(name);
    for (auto& d : deps) p.depends_on.push_back({d, DependencyCondition::started, {}});
    return p;
}
}  // namespace

TEST_CASE("dependency graph: a program waits for each unmet dependency", "[deps]") {
    DependencyGraph g({prog("db", {}), prog("cache", {}), prog("app", {"db", "cache"})});
    std::map<std::string, bool> up{{"db", false}, {"cache", true}};
    auto met = [&](const Dependency& d) { return up[d.name]; };
    CHECK(g.unmet("app", met) == std::vector<std::string>{"db"});
    up["db"] = true;
    CHECK(g.unmet("app", met).empty());
    CHECK(g.unmet("db", met).empty());
}

TEST_CASE("dependency graph: shutdown waits for dependents still up", "[deps]") {
    DependencyGraph g({prog("db", {}), prog("app1", {"db"}), prog("app2", {"db"})});
    std::map<std::string, bool> down{{"app1", true}, {"app2", false}};
    auto is_down = [&](const std::string& n) { return down[n]; };
    CHECK(g.up_dependents("db", is_down) == std::vector<std::string>{"app2"});
    down["app2"] = true;
    CHECK(g.up_dependents("db", is_down).empty());
    CHECK(g.dependents("app1").empty());
    CHECK(g.dependencies("unknown").empty());
}
