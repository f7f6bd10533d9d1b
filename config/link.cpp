// The checks that need every section at once: names that refer to programs,
// processes and upstreams, dependency cycles, the proxy program, and the
// start order of Config::programs.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "config/build.hpp"
#include "config/socket_url.hpp"
#include "config/values.hpp"

namespace vigil::config::detail {
namespace {

// Dependencies are expanded per process, so two numprocs = 1000 programs
// could ask for a million edges; no real config comes near this.
constexpr std::size_t kMaxEdges = 100000;

std::string at_text(const SourceLoc& loc) { return loc.file + ":" + std::to_string(loc.line); }

class Linker {
public:
    Linker(Config& c, const Where& w, Errors& e) : config_(c), where_(w), errors_(e) {
        for (std::size_t i = 0; i < c.programs.size(); ++i) {
            index_.emplace(c.programs[i].name, i);
            processes_of_[c.programs[i].program].push_back(c.programs[i].name);
        }
    }

    void run() {
        check_groups();
        resolve_dependencies();
        bool cycles = find_cycles();
        resolve_upstreams();
        check_replication();
        check_proxies();
        check_routing(config_, where_, errors_);
        if (!cycles) order();
    }

private:
    // A name in depends_on or servers: a program section (all its processes)
    // first, else one process.
    std::vector<std::string> lookup(const std::string& name) const {
        if (auto it = processes_of_.find(name); it != processes_of_.end()) return it->second;
        if (index_.count(name)) return {name};
        return {};
    }

    void check_groups() {
        std::set<std::string> grouped;
        for (const auto& g : config_.groups) grouped.insert(g.programs.begin(), g.programs.end());
        for (const auto& g : config_.groups) {
            SourceLoc at = where_.group_programs.count(g.name) ? where_.group_programs.at(g.name) : g.loc;
            for (const auto& p : g.programs)
                if (!processes_of_.count(p)) errors_.add(at, "programs: unknown program '" + p + "'");
            // An ungrouped program is its own group; `vigilctl start web:*`
            // must mean one thing.
            if (processes_of_.count(g.name) && !grouped.count(g.name))
                errors_.add(g.loc, "[group:" + g.name + "] has the name of [program:" + g.name +
                                       "], which is not in any group; rename one");
        }
    }

    void resolve_dependencies() {
        std::size_t edges = 0;
        for (auto& p : config_.programs) {
            std::vector<Dependency> resolved;
            for (const auto& d : p.depends_on) {
                auto targets = lookup(d.name);
                if (targets.empty()) {
                    errors_.add(d.loc, "depends_on: unknown program or process '" + d.name + "'");
                    continue;
                }
                for (const auto& t : targets) {
                    const Program& target = config_.programs[index_.at(t)];
                    if (d.condition == DependencyCondition::healthy && target.health.kind == HealthKind::none) {
                        errors_.add(d.loc, "depends_on: " + d.name + ":healthy can never be met: " + t +
                                               " has no healthcheck");
                        continue;
                    }
                    auto same = std::find_if(resolved.begin(), resolved.end(),
                                             [&](const Dependency& r) { return r.name == t; });
                    if (same != resolved.end()) {
                        if (d.condition == DependencyCondition::healthy) same->condition = d.condition;
                        continue;
                    }
                    if (++edges > kMaxEdges) {
                        if (edges == kMaxEdges + 1)
                            errors_.add(d.loc, "depends_on: too many dependencies in this config (the limit is " +
                                                   std::to_string(kMaxEdges) + " process pairs)");
                        break;
                    }
                    resolved.push_back(Dependency{t, d.condition, d.loc});
                }
            }
            p.depends_on = std::move(resolved);
        }
    }

    // Each process left over by a topological sort depends on another left
    // over one; following the first such dependency must come back round,
    // and that loop is a cycle to name. One error per loop found.
    bool find_cycles() {
        const auto& ps = config_.programs;
        std::vector<int> pending(ps.size(), 0);
        std::vector<std::vector<std::size_t>> dependents(ps.size());
        for (std::size_t i = 0; i < ps.size(); ++i)
            for (const auto& d : ps[i].depends_on) {
                dependents[index_.at(d.name)].push_back(i);
                ++pending[i];
            }
        std::vector<std::size_t> ready;
        for (std::size_t i = 0; i < ps.size(); ++i)
            if (!pending[i]) ready.push_back(i);
        std::vector<bool> done(ps.size(), false);
        while (!ready.empty()) {
            std::size_t i = ready.back();
            ready.pop_back();
            done[i] = true;
            for (std::size_t j : dependents[i])
                if (--pending[j] == 0) ready.push_back(j);
        }
        bool any = false;
        std::vector<int> walk(ps.size(), -1);  // which walk visited a process
        for (std::size_t start = 0; start < ps.size(); ++start) {
            if (done[start] || walk[start] != -1) continue;
            std::vector<std::size_t> path;
            std::size_t cur = start;
            while (walk[cur] == -1) {
                walk[cur] = static_cast<int>(start);
                path.push_back(cur);
                for (const auto& d : ps[cur].depends_on) {
                    std::size_t next = index_.at(d.name);
                    if (!done[next]) {
                        cur = next;
                        break;
                    }
                }
            }
            if (walk[cur] != static_cast<int>(start)) continue;  // ran into an earlier, reported walk
            auto first = std::find(path.begin(), path.end(), cur);
            std::vector<std::size_t> cycle(first, path.end());
            std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
            std::string text;
            for (std::size_t i : cycle) text += ps[i].name + " -> ";
            text += ps[cycle.front()].name;
            const std::string& next_name = ps[cycle.size() > 1 ? cycle[1] : cycle[0]].name;
            SourceLoc at = ps[cycle.front()].loc;
            for (const auto& d : ps[cycle.front()].depends_on)
                if (d.name == next_name) at = d.loc;
            errors_.add(at, "dependency cycle: " + text);
            any = true;
        }
        return any;
    }

    // replica_of: one primary of the same kind, no chains, no cycles.
    void check_replication() {
        for (auto& p : config_.programs) {
            if (p.replica_of.empty()) continue;
            const std::string& want = p.replica_of;
            auto procs = lookup(want);
            if (procs.empty()) {
                errors_.add(p.replica_of_loc, "replica_of: unknown program '" + want + "'");
                continue;
            }
            if (want == p.program || want == p.name) {
                errors_.add(p.replica_of_loc, "replica_of: " + p.name + " cannot be a replica of itself");
                continue;
            }
            if (procs.size() != 1 || p.numprocs != 1) {
                errors_.add(p.replica_of_loc, "replica_of: a replicated pair is one process each; " +
                                                  (p.numprocs != 1 ? p.name + " has" : want + " has") +
                                                  " numprocs > 1");
                continue;
            }
            Program& primary = config_.programs[index_.at(procs.front())];
            if (primary.kind != p.kind) {
                errors_.add(p.replica_of_loc, "replica_of: " + want + " is kind = " + primary.kind + ", but " + p.name +
                                                  " is kind = " + p.kind + " (a replica needs a primary of its kind)");
                continue;
            }
            if (!primary.replica_of.empty()) {
                if (primary.replica_of == p.program || primary.replica_of == p.name)
                    errors_.add(p.replica_of_loc, "replica_of: a cycle: " + p.name + " -> " + want + " -> " + p.name +
                                                      " (one of them must be the primary)");
                else
                    errors_.add(p.replica_of_loc, "replica_of: " + want + " is itself a replica (of " +
                                                      primary.replica_of + "); name the primary, " +
                                                      primary.replica_of + " (replicas of replicas are not supported)");
                continue;
            }
            p.replicated = true;
            primary.replicated = true;
        }
    }

    void resolve_upstreams() {
        for (auto& u : config_.upstreams) {
            SourceLoc at = where_.upstream_servers.count(u.name) ? where_.upstream_servers.at(u.name) : u.loc;
            std::vector<std::string> resolved;
            for (const auto& s : u.servers) {
                std::vector<std::string> names;
                if (s.find(':') != std::string::npos) {
                    names.push_back(s);
                } else {
                    names = lookup(s);
                    if (names.empty()) {
                        errors_.add(at, "servers: unknown program or process '" + s + "'" +
                                            (s.find('.') != std::string::npos ? " (a host:port server needs its port)" : ""));
                        continue;
                    }
                    for (const auto& n : names)
                        if (config_.programs[index_.at(n)].address.empty())
                            errors_.add(at, "servers: " + n + " has no address (set address = HOST:PORT in [program:" +
                                                config_.programs[index_.at(n)].program + "])");
                }
                for (auto& n : names) {
                    if (std::find(resolved.begin(), resolved.end(), n) != resolved.end())
                        errors_.add(at, "servers: '" + n + "' is listed twice");
                    else
                        resolved.push_back(std::move(n));
                }
            }
            u.servers = std::move(resolved);
        }
    }

    void check_proxies() {
        std::set<std::string> upstreams;
        for (const auto& u : config_.upstreams) upstreams.insert(u.name);
        for (const auto& p : config_.proxies) {
            const auto* locs = where_.proxy_routes.count(p.name) ? &where_.proxy_routes.at(p.name) : nullptr;
            for (std::size_t i = 0; i < p.routes.size(); ++i)
                if (!upstreams.count(p.routes[i].upstream))
                    errors_.add(locs && i < locs->size() ? (*locs)[i] : p.loc,
                                "route: unknown upstream '" + p.routes[i].upstream + "'");
        }
        const Program* proxy_program = nullptr;
        for (const auto& p : config_.programs) {
            if (p.kind != "proxy") continue;
            if (p.numprocs > 1)
                errors_.add(p.loc, "kind = proxy serves every [proxy:*] section from one process: numprocs must be 1");
            if (proxy_program && proxy_program->program != p.program)
                errors_.add(p.loc, "only one program may have kind = proxy (also [program:" + proxy_program->program +
                                       "] at " + at_text(proxy_program->loc) + ")");
            if (!proxy_program) proxy_program = &p;
        }
        if (proxy_program && config_.proxies.empty())
            errors_.add(proxy_program->loc, "kind = proxy, but there is no [proxy:NAME] section for it to serve");
        if (!proxy_program && !config_.proxies.empty())
            errors_.add(config_.proxies.front().loc,
                        "[proxy:" + config_.proxies.front().name +
                            "] is served by a program with kind = proxy, and there is none (add [program:proxy] "
                            "with kind = proxy)");
        // vigild holds the proxy's listening sockets (docs/config.md,
        // `sockets`): a proxy that dies or restarts never refuses a
        // connection; clients wait in the backlog for the next one.
        for (auto& prog : config_.programs) {
            if (prog.kind != "proxy") continue;
            for (const auto& px : config_.proxies) {
                std::string why;
                auto url = parse_socket_url("tcp://" + px.listen, why);
                if (!url) continue;  // the listen value was checked (and refused) already
                if (std::find(prog.sockets.begin(), prog.sockets.end(), url->text()) == prog.sockets.end())
                    prog.sockets.push_back(url->text());
            }
        }
    }

    // Dependencies first; among the processes free to start, lower group
    // priority, then lower priority, then name, as supervisord orders groups
    // and the programs in them (an ungrouped program is its own group).
    void order() {
        auto& ps = config_.programs;
        std::map<std::string, int> group_priority;
        for (const auto& g : config_.groups) group_priority[g.name] = g.priority;
        auto key = [&](std::size_t i) {
            auto gp = group_priority.find(ps[i].group);
            int g = gp != group_priority.end() ? gp->second : ps[i].priority;
            return std::make_tuple(g, ps[i].priority, ps[i].name, i);
        };
        std::vector<int> pending(ps.size(), 0);
        std::vector<std::vector<std::size_t>> dependents(ps.size());
        for (std::size_t i = 0; i < ps.size(); ++i)
            for (const auto& d : ps[i].depends_on) {
                dependents[index_.at(d.name)].push_back(i);
                ++pending[i];
            }
        std::set<std::tuple<int, int, std::string, std::size_t>> ready;
        for (std::size_t i = 0; i < ps.size(); ++i)
            if (!pending[i]) ready.insert(key(i));
        std::vector<Program> sorted;
        sorted.reserve(ps.size());
        while (!ready.empty()) {
            std::size_t i = std::get<3>(*ready.begin());
            ready.erase(ready.begin());
            for (std::size_t j : dependents[i])
                if (--pending[j] == 0) ready.insert(key(j));
            sorted.push_back(std::move(ps[i]));
        }
        ps = std::move(sorted);
    }

    Config& config_;
    const Where& where_;
    Errors& errors_;
    std::map<std::string, std::size_t> index_;                     // process name → index
    std::map<std::string, std::vector<std::string>> processes_of_;  // program section → process names
};

}  // namespace

void link(Config& config, const Where& where, Errors& errors) { Linker(config, where, errors).run(); }

}  // namespace vigil::config::detail
