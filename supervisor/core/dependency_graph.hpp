// Who waits for whom. Start-up: a program starts only when each of its
// `depends_on` entries is met (:started = RUNNING; :healthy = healthy once
// health checks run). Shutdown is the reverse: a program is stopped only when
// nothing that depends on it still runs. The loader has already refused
// unknown names and cycles, so the graph is a DAG here.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace vigil::core {

class DependencyGraph {
public:
    using MetFn = std::function<bool(const config::Dependency&)>;
    using DownFn = std::function<bool(const std::string&)>;

    DependencyGraph() = default;
    explicit DependencyGraph(const std::vector<config::Program>& programs);

    // The dependencies of `name` that `met` says are not met yet.
    std::vector<std::string> unmet(const std::string& name, const MetFn& met) const;
    // The dependents of `name` that `down` says are still up.
    std::vector<std::string> up_dependents(const std::string& name, const DownFn& down) const;

    const std::vector<config::Dependency>& dependencies(const std::string& name) const;
    const std::vector<std::string>& dependents(const std::string& name) const;

private:
    std::map<std::string, std::vector<config::Dependency>> deps_;
    std::map<std::string, std::vector<std::string>> dependents_;
};

}  // namespace vigil::core
