#include "supervisor/core/dependency_graph.hpp"

namespace vigil::core {
namespace {
const std::vector<config::Dependency> kNoDeps;
const std::vector<std::string> kNoNames;
}  // namespace

DependencyGraph::DependencyGraph(const std::vector<config::Program>& programs) {
    for (const auto& p : programs) {
        deps_[p.name] = p.depends_on;
        for (const auto& d : p.depends_on) dependents_[d.name].push_back(p.name);
    }
}

std::vector<std::string> DependencyGraph::unmet(const std::string& name, const MetFn& met) const {
    std::vector<std::string> out;
    for (const auto& d : dependencies(name))
        if (!met(d)) out.push_back(d.name);
    return out;
}

std::vector<std::string> DependencyGraph::up_dependents(const std::string& name, const DownFn& down) const {
    std::vector<std::string> out;
    for (const auto& n : dependents(name))
        if (!down(n)) out.push_back(n);
    return out;
}

const std::vector<config::Dependency>& DependencyGraph::dependencies(const std::string& name) const {
    auto it = deps_.find(name);
    return it == deps_.end() ? kNoDeps : it->second;
}

const std::vector<std::string>& DependencyGraph::dependents(const std::string& name) const {
    auto it = dependents_.find(name);
    return it == dependents_.end() ? kNoNames : it->second;
}

}  // namespace vigil::core
