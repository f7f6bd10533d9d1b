#include "supervisor/core/config_diff.hpp"

#include <algorithm>
#include <map>

namespace vigil::core {
namespace {

std::map<std::string, const config::Program*> by_name(const std::vector<config::Program>& ps) {
    std::map<std::string, const config::Program*> m;
    for (const auto& p : ps) m[p.name] = &p;
    return m;
}

// Two programs are the same when everything but bookkeeping is equal: a
// config line moved within the file must not restart anything, nor must
// numprocs 2 -> 3 restart the two instances that stay, nor a new `image`.
bool same(config::Program a, config::Program b) {
    a.loc = b.loc = {};
    a.numprocs = b.numprocs = 0;
    a.image = b.image = {};  // only `vigilctl export kubernetes` reads it
    for (auto* d : {&a.depends_on, &b.depends_on})
        for (auto& dep : *d) dep.loc = {};
    return a == b;
}

}  // namespace

ConfigDiff diff_programs(const std::vector<config::Program>& running, const std::vector<config::Program>& next) {
    ConfigDiff d;
    const auto old_map = by_name(running);
    const auto new_map = by_name(next);
    for (const auto& [name, p] : new_map) {
        auto it = old_map.find(name);
        if (it == old_map.end()) d.added.push_back(name);
        else if (same(*it->second, *p)) d.unchanged.push_back(name);
        else d.changed.push_back(name);
    }
    for (const auto& [name, p] : old_map)
        if (!new_map.count(name)) d.removed.push_back(name);
    return d;
}

ConfigDiff diff_config(const config::Config& running, const config::Config& next) {
    ConfigDiff d = diff_programs(running.programs, next.programs);
    auto sections = [](std::vector<config::Proxy> ps) {
        for (auto& p : ps) p.loc = {};
        return ps;
    };
    if (sections(running.proxies) == sections(next.proxies)) return d;
    for (const auto& p : next.programs) {
        if (p.kind != "proxy") continue;
        auto it = std::find(d.unchanged.begin(), d.unchanged.end(), p.name);
        if (it == d.unchanged.end()) continue;
        d.unchanged.erase(it);
        d.changed.insert(std::upper_bound(d.changed.begin(), d.changed.end(), p.name), p.name);
    }
    return d;
}

ConfigDiff select(const ConfigDiff& d, const std::vector<config::Program>& running,
                  const std::vector<config::Program>& next, const std::vector<std::string>& only) {
    if (only.empty()) return d;
    const auto old_map = by_name(running);
    const auto new_map = by_name(next);
    auto wanted = [&](const std::string& name) {
        auto it = new_map.find(name);
        const config::Program* p = it != new_map.end() ? it->second : old_map.at(name);
        return std::any_of(only.begin(), only.end(), [&](const std::string& o) {
            return o == p->name || o == p->program || o == p->group || o == p->group + ":*";
        });
    };
    ConfigDiff out;
    for (const auto& n : d.added) (wanted(n) ? out.added : out.unchanged).push_back(n);
    for (const auto& n : d.changed) (wanted(n) ? out.changed : out.unchanged).push_back(n);
    for (const auto& n : d.removed)
        if (wanted(n)) out.removed.push_back(n);
    for (const auto& n : d.unchanged) out.unchanged.push_back(n);
    std::sort(out.unchanged.begin(), out.unchanged.end());
    return out;
}

}  // namespace vigil::core
