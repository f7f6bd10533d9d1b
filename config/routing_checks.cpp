// Routing to replicated data stores: a `role` pool holds only PostgreSQL or
// Redis programs (vigild knows which of them is the primary), and only a
// TCP listener routes to it (those servers do not speak HTTP).
#include <set>

#include "config/build.hpp"

namespace vigil::config::detail {
namespace {

const char* role_name(Role r) { return r == Role::primary ? "primary" : "replica"; }

}  // namespace

void check_routing(const Config& config, const Where& where, Errors& errors) {
    for (const Upstream& u : config.upstreams) {
        if (!u.role) continue;
        const SourceLoc at = where.upstream_role.count(u.name) ? where.upstream_role.at(u.name) : u.loc;
        const std::string head = "[upstream:" + u.name + "] role = " + role_name(*u.role) +
                                 " needs servers that are kind = postgres or kind = redis programs; ";
        std::set<std::string> kinds;
        for (const std::string& s : u.servers) {
            const Program* p = config.find(s);
            if (!p) {
                // Only vigild can say which of them is the primary, and it
                // knows only the servers it runs.
                errors.add(at, head + "'" + s + "' is an address, not a program");
                continue;
            }
            if (p->kind != "postgres" && p->kind != "redis") {
                errors.add(at, head + "'" + s + "' is kind = " + p->kind);
                continue;
            }
            kinds.insert(p->kind);
        }
        if (kinds.size() > 1)
            errors.add(at, "[upstream:" + u.name + "] mixes kind = postgres and kind = redis servers: a client of "
                           "one cannot talk to the other");
    }
    for (const Proxy& p : config.proxies) {
        if (p.mode == ProxyMode::tcp) continue;
        const auto* locs = where.proxy_routes.count(p.name) ? &where.proxy_routes.at(p.name) : nullptr;
        for (std::size_t i = 0; i < p.routes.size(); ++i)
            for (const Upstream& u : config.upstreams)
                if (u.name == p.routes[i].upstream && u.role)
                    errors.add(locs && i < locs->size() ? (*locs)[i] : p.loc,
                               "route: [upstream:" + u.name + "] has role = " + role_name(*u.role) +
                                   ": its servers speak their own protocol, so only a mode = tcp listener routes "
                                   "to it");
    }
}

}  // namespace vigil::config::detail
