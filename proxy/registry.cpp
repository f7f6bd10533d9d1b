#include "proxy/registry.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace vigil::proxy {

const Pool* Snapshot::find_pool(std::string_view name) const noexcept {
    for (const Pool& p : pools)
        if (p.name == name) return &p;
    return nullptr;
}

bool resolve_address(std::string_view address, std::string& ip, std::uint16_t& port) {
    std::string_view host;
    std::string_view port_s;
    if (address.starts_with('[')) {
        auto close = address.find(']');
        if (close == std::string_view::npos || address.substr(close + 1, 1) != ":") return false;
        host = address.substr(1, close - 1);
        port_s = address.substr(close + 2);
    } else {
        auto colon = address.rfind(':');
        if (colon == std::string_view::npos) return false;
        host = address.substr(0, colon);
        port_s = address.substr(colon + 1);
    }
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), p);
    if (ec != std::errc{} || end != port_s.data() + port_s.size() || p == 0 || p > 65535 || host.empty()) return false;
    if (host == "*") host = "0.0.0.0";

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    const std::string h(host);
    if (getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0 || !res) {
        hints.ai_flags = 0;  // AI_ADDRCONFIG hides 127.0.0.1 on hosts with only loopback
        if (getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0 || !res) return false;
    }
    const addrinfo* pick = res;
    for (const addrinfo* a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) { pick = a; break; }  // prefer IPv4 for "localhost"
    char buf[INET6_ADDRSTRLEN] = {};
    if (pick->ai_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(pick->ai_addr)->sin_addr, buf, sizeof buf);
    else
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(pick->ai_addr)->sin6_addr, buf, sizeof buf);
    freeaddrinfo(res);
    ip = buf;
    port = static_cast<std::uint16_t>(p);
    return true;
}

namespace {
std::string at(const config::SourceLoc& loc) {
    return loc.line ? loc.file + ":" + std::to_string(loc.line) + ": " : loc.file + ": ";
}
}  // namespace

std::optional<Registry> Registry::from_config(const config::Config& cfg, std::vector<std::string>& errors) {
    Registry r;
    for (const config::Proxy& p : cfg.proxies) {
        ListenerSpec l;
        l.name = p.name;
        if (!resolve_address(p.listen, l.host, l.port))
            errors.push_back(at(p.loc) + "[proxy:" + p.name + "] listen: cannot resolve '" + p.listen + "'");
        l.tls_cert = p.tls_cert;
        l.tls_key = p.tls_key;
        l.routes = p.routes;
        l.rate_limit_per_min = p.rate_limit_per_min;
        l.tcp = p.mode == config::ProxyMode::tcp;
        l.idle_timeout = p.idle_timeout;
        l.connect_timeout = p.connect_timeout;
        r.listeners_.push_back(std::move(l));
    }

    std::vector<Pool> pools;
    for (const config::Upstream& u : cfg.upstreams) {
        Pool pool;
        pool.name = u.name;
        pool.balance = u.balance;
        pool.max_fails = u.max_fails;
        pool.fail_timeout = u.fail_timeout;
        pool.slow_start = u.slow_start;
        pool.max_ejection_percent = u.max_ejection_percent;
        pool.max_ejection_time = u.max_ejection_time;
        pool.eject_on_5xx = u.eject_on_5xx;
        pool.role = u.role;
        pool.counters = std::make_shared<PoolCounters>();
        for (const std::string& s : u.servers) {
            // A program name with numprocs > 1 stands for all its processes.
            std::vector<std::pair<std::string, std::string>> members;
            if (const config::Program* prog = cfg.find(s)) {
                members.emplace_back(prog->name, prog->address);
            } else {
                for (const config::Program& prog : cfg.programs)
                    if (prog.program == s) members.emplace_back(prog.name, prog.address);
                if (members.empty()) members.emplace_back(s, s);
            }
            for (auto& [name, address] : members) {
                if (address.empty()) {
                    errors.push_back(at(u.loc) + "[upstream:" + u.name + "] server '" + name + "' has no address");
                    continue;
                }
                // Which member of a role pool is the primary only vigild
                // knows: none takes a connection before it says (a restarted
                // proxy must not send writes to a demoted server).
                ServerEntry e;
                Status st = r.make_entry(name, address, u.role ? ServerMode::down : ServerMode::up, e);
                e.held = u.role.has_value();
                if (!st.ok()) errors.push_back(at(u.loc) + "[upstream:" + u.name + "] " + st.message);
                else pool.servers.push_back(std::move(e));
            }
        }
        pools.push_back(std::move(pool));
    }
    if (!errors.empty()) return std::nullopt;
    r.publish(std::move(pools));
    return r;
}

Registry::Status Registry::make_entry(std::string_view name, std::string_view address, ServerMode mode,
                                      ServerEntry& out) {
    if (name.empty() || name.find('/') != std::string_view::npos) return {400, "bad server name"};
    out.name = std::string(name);
    out.address = std::string(address);
    if (!resolve_address(address, out.ip, out.port))
        return {400, "server '" + out.name + "': cannot resolve address '" + out.address + "'"};
    out.mode = mode;
    out.stats = new_stats();
    return {};
}

void Registry::publish(std::vector<Pool> pools) {
    auto s = std::make_shared<Snapshot>();
    s->version = ++version_;
    s->pools = std::move(pools);
    s->server_ids = next_id_;
    for (const ListenerSpec& l : listeners_) {
        RouteTable t;
        for (const config::Route& route : l.routes) {
            int index = -1;
            for (std::size_t i = 0; i < s->pools.size(); ++i)
                if (s->pools[i].name == route.upstream) index = static_cast<int>(i);
            t.add(route.prefix, route.upstream, index);
        }
        s->routes.push_back(std::move(t));
    }
    snap_ = std::move(s);
}

namespace {
template <class Pools>
auto find_pool(Pools& pools, std::string_view name) -> decltype(&pools[0]) {
    for (auto& p : pools)
        if (p.name == name) return &p;
    return nullptr;
}
}  // namespace

namespace {
// vigild's `up`: passive state is cleared (vigild saw the server healthy:
// traffic now), and a server that was out starts its slow-start ramp.
void bring_up(const ServerEntry& e, TimePoint now) {
    const bool was_out = e.mode != ServerMode::up || e.stats->ejected(now);
    clear_health(*e.stats);
    if (was_out) start_ramp(*e.stats, now);
}
}  // namespace

Registry::Status Registry::set_mode(std::string_view pool, std::string_view server, ServerMode mode, TimePoint now) {
    std::vector<Pool> pools = snap_->pools;
    Pool* p = find_pool(pools, pool);
    if (!p) return {404, "no pool '" + std::string(pool) + "'"};
    for (ServerEntry& e : p->servers) {
        if (e.name != server) continue;
        if (mode == ServerMode::up) bring_up(e, now);
        if (e.mode == mode && !e.held) return {200, "unchanged"};
        e.mode = mode;
        e.held = false;
        publish(std::move(pools));
        return {};
    }
    return {404, "no server '" + std::string(server) + "' in pool '" + std::string(pool) + "'"};
}

Registry::Status Registry::put_server(std::string_view pool, std::string_view server, std::string_view address,
                                      std::optional<ServerMode> mode, TimePoint now) {
    std::vector<Pool> pools = snap_->pools;
    Pool* p = find_pool(pools, pool);
    if (!p) return {404, "no pool '" + std::string(pool) + "'"};
    for (ServerEntry& e : p->servers) {
        if (e.name != server) continue;
        if (e.address == address) {
            if (mode && (*mode != e.mode || e.held)) {
                if (*mode == ServerMode::up) bring_up(e, now);
                e.mode = *mode;
                e.held = false;
                publish(std::move(pools));
            }
            return {200, "unchanged address"};
        }
        // A new address is a new server: fresh counters, no stale idle connections.
        ServerEntry fresh;
        Status st = make_entry(server, address, mode.value_or(e.mode), fresh);
        if (!st.ok()) return st;
        fresh.held = e.held && !mode;
        start_ramp(*fresh.stats, now);  // a new instance: ramps up when it takes traffic
        e = std::move(fresh);
        publish(std::move(pools));
        return {};
    }
    ServerEntry e;
    Status st = make_entry(server, address, mode.value_or(p->role ? ServerMode::down : ServerMode::up), e);
    if (!st.ok()) return st;
    e.held = p->role && !mode;
    start_ramp(*e.stats, now);  // added to a live pool
    p->servers.push_back(std::move(e));
    publish(std::move(pools));
    return {201, "added"};
}

Registry::Status Registry::remove_server(std::string_view pool, std::string_view server) {
    std::vector<Pool> pools = snap_->pools;
    Pool* p = find_pool(pools, pool);
    if (!p) return {404, "no pool '" + std::string(pool) + "'"};
    auto it = std::find_if(p->servers.begin(), p->servers.end(), [&](const ServerEntry& e) { return e.name == server; });
    if (it == p->servers.end()) return {404, "no server '" + std::string(server) + "' in pool '" + std::string(pool) + "'"};
    p->servers.erase(it);
    publish(std::move(pools));
    return {};
}

Registry::Status Registry::put_pool(const PoolSpec& spec, TimePoint now) {
    if (spec.name.empty() || spec.name.find('/') != std::string::npos) return {400, "bad pool name"};
    if (spec.max_fails < 0 || spec.fail_timeout.count() < 0) return {400, "max_fails and fail_timeout must be >= 0"};
    std::vector<Pool> pools = snap_->pools;
    Pool* existing = find_pool(pools, spec.name);
    Pool pool;
    pool.name = spec.name;
    pool.balance = spec.balance;
    pool.max_fails = spec.max_fails;
    pool.fail_timeout = spec.fail_timeout;
    // vigild's own PUT may not carry slow_start: keep what the pool had.
    pool.slow_start = spec.slow_start.value_or(existing ? existing->slow_start : std::chrono::milliseconds{0});
    const Pool defaults;
    const Pool& was = existing ? *existing : defaults;
    pool.max_ejection_percent = spec.max_ejection_percent.value_or(was.max_ejection_percent);
    pool.max_ejection_time = spec.max_ejection_time.value_or(was.max_ejection_time);
    pool.eject_on_5xx = spec.eject_on_5xx.value_or(was.eject_on_5xx);
    pool.role = was.role;  // from the config: vigild's PUT does not carry it
    pool.counters = existing ? existing->counters : std::make_shared<PoolCounters>();
    for (std::size_t k = 0; k < spec.servers.size(); ++k) {
        const auto& [name, address] = spec.servers[k];
        const bool given = k < spec.modes.size() && spec.modes[k].has_value();
        const ServerMode fresh_mode = given ? *spec.modes[k] : pool.role ? ServerMode::down : ServerMode::up;
        // Keep a server's live counters when it stays with the same address.
        const ServerEntry* old = nullptr;
        if (existing)
            for (const ServerEntry& e : existing->servers)
                if (e.name == name && e.address == address) old = &e;
        if (old) {
            pool.servers.push_back(*old);
            // A held member's first word from vigild may come with its
            // resync's PUT; any other member keeps its state.
            ServerEntry& kept = pool.servers.back();
            if (given && kept.held) {
                if (fresh_mode == ServerMode::up) bring_up(kept, now);
                kept.mode = fresh_mode;
                kept.held = false;
            }
            continue;
        }
        ServerEntry e;
        Status st = make_entry(name, address, fresh_mode, e);
        if (!st.ok()) return st;
        e.held = pool.role && !given;
        if (existing) start_ramp(*e.stats, now);  // a new member of a live pool
        pool.servers.push_back(std::move(e));
    }
    const bool created = existing == nullptr;
    if (existing) *existing = std::move(pool);
    else pools.push_back(std::move(pool));
    publish(std::move(pools));
    return {created ? 201 : 200, created ? "created" : "replaced"};
}

Registry::Status Registry::remove_pool(std::string_view pool) {
    std::vector<Pool> pools = snap_->pools;
    auto it = std::find_if(pools.begin(), pools.end(), [&](const Pool& p) { return p.name == pool; });
    if (it == pools.end()) return {404, "no pool '" + std::string(pool) + "'"};
    pools.erase(it);
    publish(std::move(pools));
    return {};
}

}  // namespace vigil::proxy
