// What an edited config changes, process by process: the plan behind
// `vigilctl reread` (shown) and `update` (applied). Pure: two program lists
// in, names out. A process whose every setting is equal is unchanged and
// keeps running with its pid.
#pragma once

#include <string>
#include <vector>

#include "config/model.hpp"

namespace vigil::core {

struct ConfigDiff {
    std::vector<std::string> added, changed, removed, unchanged;  // process names, sorted
    bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
};

ConfigDiff diff_programs(const std::vector<config::Program>& running, const std::vector<config::Program>& next);

// diff_programs, and the kind = proxy program counts as changed when a
// [proxy:*] section did (listeners, routes, certificate paths, rate limits:
// vigil-proxy reads those only when it starts, so the change takes a new
// proxy, which vigild hands over to without a refused connection). Upstream
// changes need none: vigild pushes them to the running proxy.
ConfigDiff diff_config(const config::Config& running, const config::Config& next);

// Keeps the part of `d` that `only` selects: a process name, its program
// section name, or its group name. Empty `only` selects everything.
ConfigDiff select(const ConfigDiff& d, const std::vector<config::Program>& running,
                  const std::vector<config::Program>& next, const std::vector<std::string>& only);

}  // namespace vigil::core
