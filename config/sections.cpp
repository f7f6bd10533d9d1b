// [vigil], [group:*], [upstream:*] and [proxy:*]: their own keys and values.
// Names they refer to (programs, processes, upstreams) are checked in link.cpp
// once every section is known.
#include <algorithm>
#include <map>

#include "config/build.hpp"
#include "config/values.hpp"

namespace vigil::config::detail {
namespace {

// sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
constexpr std::size_t kMaxSocketPath = 107;

template <class T>
void sort_by_name(std::vector<T>& v) {
    std::sort(v.begin(), v.end(), [](const T& a, const T& b) { return a.name < b.name; });
}

}  // namespace

void build_daemon(const std::vector<RawSection>& sections, const LoadOptions& options, Errors& errors, Daemon& d) {
    for (const auto& s : sections) {
        if (s.type != "vigil") continue;
        static constexpr std::string_view kKnown[] = {"control_socket", "socket_group", "read_only_group", "log_group",
                                                      "state_dir", "log_dir", "log_level", "limits"};
        Keys keys(s, kKnown, {}, errors);
        ExpandVars vars = base_vars(s, options);
        Values v(s, keys, vars, errors);

        auto path = [&](std::string_view key, std::string& out) {
            const ini::Entry* e = v.entry(key);
            if (!e) return;
            auto t = v.text(*e);
            if (!t) return;
            if (t->empty()) {
                v.error(*e, "must not be empty");
                return;
            }
            out = std::move(*t);
        };
        path("control_socket", d.control_socket);
        path("state_dir", d.state_dir);
        path("log_dir", d.log_dir);
        if (const ini::Entry* e = v.entry("control_socket"); e && d.control_socket.size() > kMaxSocketPath)
            v.error(*e, "path is too long for a Unix socket (" + std::to_string(d.control_socket.size()) +
                            " bytes, the limit is " + std::to_string(kMaxSocketPath) + ")");
        v.string("socket_group", d.socket_group);
        v.string("read_only_group", d.read_only_group);
        v.string("log_group", d.log_group);
        if (const ini::Entry* e = v.entry("log_level")) {
            if (auto t = v.text(*e)) {
                std::string level(trim(*t));
                if (level == "warning") level = "warn";
                static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn",
                                                               "error", "critical", "off"};
                if (std::find(std::begin(kLevels), std::end(kLevels), level) == std::end(kLevels))
                    v.error(*e, "expected trace, debug, info, warn, error, critical or off, got '" + *t + "'");
                else
                    d.log_level = level;
            }
        }
        if (const ini::Entry* e = v.entry("limits")) {
            if (auto t = v.text(*e)) {
                const std::string mode(trim(*t));
                if (mode == "required") d.limits_required = true;
                else if (mode != "best-effort") v.error(*e, "expected best-effort or required, got '" + *t + "'");
            }
        }
    }
}

std::vector<Group> build_groups(const std::vector<RawSection>& sections, const LoadOptions& options,
                                Errors& errors, Where& where) {
    std::vector<Group> out;
    for (const auto& s : sections) {
        if (s.type != "group") continue;
        static constexpr std::string_view kKnown[] = {"programs", "priority"};
        Keys keys(s, kKnown, {}, errors);
        ExpandVars vars = base_vars(s, options);
        vars.strings.emplace("group_name", s.name);
        Values v(s, keys, vars, errors);
        Group g;
        g.name = s.name;
        g.loc = s.loc;
        v.integer("priority", g.priority, -999999, 999999);
        const ini::Entry* e = v.entry("programs");
        if (!e) {
            v.missing("[group:" + s.name + "] needs programs = NAME,...");
        } else if (auto t = v.text(*e)) {
            where.group_programs[g.name] = v.loc(*e);
            for (auto& name : split_list(*t)) {
                if (std::find(g.programs.begin(), g.programs.end(), name) != g.programs.end())
                    v.error(*e, "'" + name + "' is listed twice");
                else
                    g.programs.push_back(std::move(name));
            }
            if (g.programs.empty()) v.error(*e, "lists no program");
        }
        out.push_back(std::move(g));
    }
    sort_by_name(out);
    return out;
}

std::vector<Upstream> build_upstreams(const std::vector<RawSection>& sections, const LoadOptions& options,
                                      Errors& errors, Where& where) {
    std::vector<Upstream> out;
    for (const auto& s : sections) {
        if (s.type != "upstream") continue;
        static constexpr std::string_view kKnown[] = {"balance", "servers", "max_fails", "fail_timeout",
                                                      "slow_start", "max_ejection_percent",
                                                      "max_ejection_time", "eject_on_5xx", "role"};
        Keys keys(s, kKnown, {}, errors);
        ExpandVars vars = base_vars(s, options);
        Values v(s, keys, vars, errors);
        Upstream u;
        u.name = s.name;
        u.loc = s.loc;
        if (const ini::Entry* e = v.entry("balance")) {
            if (auto t = v.text(*e)) {
                std::string_view b = trim(*t);
                if (b == "least_conn") u.balance = Balance::least_conn;
                else if (b == "round_robin") u.balance = Balance::round_robin;
                else v.error(*e, "expected least_conn or round_robin, got '" + *t + "'");
            }
        }
        v.integer("max_fails", u.max_fails, 0, 1000000);
        v.duration("fail_timeout", u.fail_timeout, Duration{1});
        v.duration("slow_start", u.slow_start, Duration{0});  // 0: off
        v.integer("max_ejection_percent", u.max_ejection_percent, 0, 100);
        v.duration("max_ejection_time", u.max_ejection_time, Duration{1});
        v.integer("eject_on_5xx", u.eject_on_5xx, 0, 1000000);
        if (const ini::Entry* e = v.entry("role")) {
            if (auto t = v.text(*e)) {
                std::string_view r = trim(*t);
                if (r == "primary") u.role = Role::primary;
                else if (r == "replica") u.role = Role::replica;
                else v.error(*e, "expected primary or replica, got '" + *t + "'");
                if (u.role) where.upstream_role[u.name] = v.loc(*e);
            }
        }
        if (u.max_ejection_time > std::chrono::hours(24))
            v.error(*v.entry("max_ejection_time"), "must be at most 24h");
        const ini::Entry* e = v.entry("servers");
        if (!e) {
            v.missing("[upstream:" + s.name + "] needs servers = NAME|HOST:PORT ...");
        } else if (auto t = v.text(*e)) {
            where.upstream_servers[u.name] = v.loc(*e);
            auto servers = split_list(*t);
            if (servers.empty()) v.error(*e, "lists no server");
            for (auto& server : servers) {
                std::string why;
                // Process names cannot hold ':', so a ':' means host:port.
                if (server.find(':') != std::string::npos && !parse_host_port(server, why)) {
                    v.error(*e, why);
                    continue;
                }
                u.servers.push_back(std::move(server));
            }
        }
        out.push_back(std::move(u));
    }
    sort_by_name(out);
    return out;
}

std::vector<Proxy> build_proxies(const std::vector<RawSection>& sections, const LoadOptions& options,
                                 Errors& errors, Where& where) {
    std::vector<Proxy> out;
    std::map<std::string, std::string> listeners;  // normalised listen → proxy
    for (const auto& s : sections) {
        if (s.type != "proxy") continue;
        static constexpr std::string_view kKnown[] = {"listen",     "tls_cert",     "tls_key",        "route",
                                                      "rate_limit", "mode",         "idle_timeout",   "connect_timeout"};
        static constexpr std::string_view kRepeatable[] = {"route"};
        Keys keys(s, kKnown, kRepeatable, errors);
        ExpandVars vars = base_vars(s, options);
        Values v(s, keys, vars, errors);
        Proxy p;
        p.name = s.name;
        p.loc = s.loc;
        if (const ini::Entry* e = v.entry("mode")) {
            if (auto t = v.text(*e)) {
                std::string_view m = trim(*t);
                if (m == "tcp") p.mode = ProxyMode::tcp;
                else if (m != "http") v.error(*e, "expected http or tcp, got '" + *t + "'");
            }
        }
        const bool tcp = p.mode == ProxyMode::tcp;
        if (const ini::Entry* e = v.entry("listen")) {
            std::string why;
            if (auto t = v.text(*e)) {
                if (auto hp = parse_host_port(*t, why)) {
                    p.listen = std::string(trim(*t));
                    std::string key = hp->host + "|" + std::to_string(hp->port);
                    auto [it, fresh] = listeners.emplace(key, p.name);
                    if (!fresh) v.error(*e, "'" + p.listen + "' is also the listen address of [proxy:" + it->second + "]");
                } else {
                    v.error(*e, why);
                }
            }
        } else {
            v.missing("[proxy:" + s.name + "] needs listen = HOST:PORT");
        }
        if (tcp) {
            // Bytes are relayed as they are: TLS, when used, is between the
            // client and the server (PostgreSQL's sslmode), and a rate per
            // request has no request to count.
            for (std::string_view key : {"tls_cert", "tls_key", "rate_limit"})
                if (const ini::Entry* e = v.entry(key))
                    v.error(*e, "not with mode = tcp (a TCP listener relays bytes as they are; " +
                                    std::string(key == "rate_limit" ? "there is no request to count)"
                                                                    : "TLS is the client's and the server's business)"));
            v.duration("idle_timeout", p.idle_timeout, Duration{0});
            Duration ct{0};
            if (v.has("connect_timeout")) {
                v.duration("connect_timeout", ct, Duration{1});
                if (ct.count() > 0) p.connect_timeout = ct;
            }
        } else {
            for (std::string_view key : {"idle_timeout", "connect_timeout"})
                if (const ini::Entry* e = v.entry(key))
                    v.error(*e, "only with mode = tcp (an HTTP listener takes vigil-proxy's --client-timeout and "
                                "--connect-timeout)");
            v.string("tls_cert", p.tls_cert);
            v.string("tls_key", p.tls_key);
            if (p.tls_cert.empty() != p.tls_key.empty())
                v.section_error("[proxy:" + s.name + "] needs both tls_cert and tls_key, or neither");
            v.parsed("rate_limit", p.rate_limit_per_min, [](const std::string& t, std::string& why) {
                return parse_rate_limit(t, why);
            });
        }
        auto& route_locs = where.proxy_routes[p.name];
        const auto routes = keys.all("route");
        for (const ini::Entry* e : routes) {
            auto t = v.text(*e);
            if (!t) continue;
            auto fields = split_list(*t);
            if (tcp) {
                if (fields.size() != 1 || fields[0].front() == '/') {
                    v.error(*e, "mode = tcp takes one route = UPSTREAM, without a path; got '" + *t + "'");
                    continue;
                }
                if (!p.routes.empty()) {
                    v.error(*e, "mode = tcp takes exactly one route (a TCP connection carries no path to choose by)");
                    continue;
                }
                p.routes.push_back(Route{"", fields[0]});
                route_locs.push_back(v.loc(*e));
                continue;
            }
            if (fields.size() != 2 || fields[0].empty() || fields[0].front() != '/') {
                v.error(*e, "expected 'route = /PREFIX UPSTREAM', got '" + *t + "'");
                continue;
            }
            bool dup = false;
            for (const auto& r : p.routes)
                if (r.prefix == fields[0]) dup = true;
            if (dup) {
                v.error(*e, "prefix '" + fields[0] + "' is routed twice");
                continue;
            }
            p.routes.push_back(Route{fields[0], fields[1]});
            route_locs.push_back(v.loc(*e));
        }
        if (p.routes.empty() && routes.empty())
            v.missing(tcp ? "[proxy:" + s.name + "] needs route = UPSTREAM"
                          : "[proxy:" + s.name + "] needs at least one route = /PREFIX UPSTREAM");
        out.push_back(std::move(p));
    }
    sort_by_name(out);
    return out;
}

}  // namespace vigil::config::detail
