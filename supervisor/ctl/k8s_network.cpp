// Services (one per workload with an address, one per [upstream:*] that is
// not simply a workload's), an Ingress per public [proxy:*], and a
// PodDisruptionBudget per workload of two or more replicas.
#include <algorithm>

#include "supervisor/core/duration_text.hpp"
#include "supervisor/ctl/k8s_parts.hpp"

namespace vigil::k8s::detail {
namespace {

using yaml::Node;

using core::duration_text;  // "30s", "1500ms": as the config writes them

bool loopback_listen(const std::string& listen) {
    return listen.rfind("127.", 0) == 0 || listen.rfind("localhost:", 0) == 0 || listen.rfind("[::1]", 0) == 0;
}

std::string port_of(const std::string& host_port) {
    const auto colon = host_port.rfind(':');
    return colon == std::string::npos ? std::string() : host_port.substr(colon + 1);
}

Object service(const Context& ctx, const std::string& name, Node selector, std::uint16_t port, const Workload* w) {
    Object o;
    Node& b = o.body;
    b.set("apiVersion", Node::str("v1"));
    b.set("kind", Node::str("Service"));
    b.set("metadata", metadata(ctx, name, w));
    Node& spec = b.set("spec", Node::map());
    spec.set("type", Node::str("ClusterIP"));
    spec.set("selector", std::move(selector));
    Node p;
    p.set("name", Node::str("tcp"));
    p.set("port", Node::num(port));
    p.set("targetPort", Node::str(std::string(kPortName)));  // each pod's own port, whatever its number
    p.set("protocol", Node::str("TCP"));
    spec.set("ports", Node::list()).push(std::move(p));
    return o;
}

// The Service port behind an upstream; nullopt when none was made.
std::optional<std::int64_t> upstream_port(const std::vector<Object>& services, const std::string& service_name) {
    for (const auto& s : services)
        if (s.name() == service_name)
            if (const Node* port = s.body.at({"spec", "ports", "0", "port"})) return std::stoll(port->text);
    return std::nullopt;
}

std::optional<Object> ingress(Context& ctx, const config::Proxy& px, const std::vector<Object>& services,
                              std::vector<const config::Proxy*>& exported) {
    const std::string name = dns_label(px.name);
    if (px.mode == config::ProxyMode::tcp) {
        std::string target = "the Service of its upstream";
        if (!px.routes.empty())
            if (auto svc = ctx.upstream_service.find(px.routes[0].upstream); svc != ctx.upstream_service.end())
                target = "Service " + svc->second + " ([upstream:" + px.routes[0].upstream + "])";
        ctx.note("[proxy:" + px.name + "] mode = tcp (" + px.listen + "): an Ingress routes HTTP only; in the "
                 "cluster, clients connect to " + target + " directly");
        return std::nullopt;
    }
    if (loopback_listen(px.listen)) {
        ctx.note("[proxy:" + px.name + "] listens on " + px.listen +
                 " only: not exported as an Ingress (that would be public); in the cluster, clients call the "
                 "Services of its upstreams directly");
        return std::nullopt;
    }
    // A second listener with the same routes (:443 beside :8443) is the same Ingress.
    for (const auto* other : exported)
        if (other->routes == px.routes && other->rate_limit_per_min == px.rate_limit_per_min &&
            other->tls_cert.empty() == px.tls_cert.empty()) {
            ctx.note("[proxy:" + px.name + "] (" + px.listen + ") has the routes of [proxy:" + other->name +
                     "]: its Ingress serves both");
            return std::nullopt;
        }
    exported.push_back(&px);
    const std::string port = port_of(px.listen);
    if (port != "80" && port != "443")
        ctx.note("[proxy:" + px.name + "] listens on " + px.listen +
                 ": an Ingress is served on the ingress controller's ports (80 and 443)");
    Object o;
    Node& b = o.body;
    b.set("apiVersion", Node::str("networking.k8s.io/v1"));
    b.set("kind", Node::str("Ingress"));
    Node& meta = b.set("metadata", metadata(ctx, name, nullptr));
    if (px.rate_limit_per_min) {
        // vigil's bucket holds N tokens (a burst of N): multiplier 1.
        Node& ann = meta.set("annotations", Node::map());
        ann.set("nginx.ingress.kubernetes.io/limit-rpm", Node::str(std::to_string(*px.rate_limit_per_min)));
        ann.set("nginx.ingress.kubernetes.io/limit-burst-multiplier", Node::str("1"));
        ctx.note("[proxy:" + px.name + "] rate_limit: ingress-nginx answers 503 to a limited client unless its "
                 "ConfigMap sets limit-req-status-code: \"429\" (vigil-proxy answers 429 with Retry-After)");
    }
    Node& spec = b.set("spec", Node::map());
    spec.set("ingressClassName", Node::str("nginx"));
    if (!px.tls_cert.empty()) {
        Node tls;
        tls.set("secretName", Node::str(name + "-tls"));
        spec.set("tls", Node::list()).push(std::move(tls));
        o.comments.push_back("TLS: create the Secret from the proxy's files first: kubectl create secret tls " + name +
                             "-tls --cert=" + px.tls_cert + " --key=" + px.tls_key);
    }
    Node paths = Node::list();
    for (const auto& r : px.routes) {
        const auto svc = ctx.upstream_service.find(r.upstream);
        const auto svc_port = svc == ctx.upstream_service.end() ? std::nullopt : upstream_port(services, svc->second);
        if (!svc_port) {
            ctx.note("[proxy:" + px.name + "] route " + r.prefix + " → " + r.upstream +
                     ": the upstream has no Service (no server in this config), so the route is left out");
            continue;
        }
        Node path;
        path.set("path", Node::str(r.prefix));
        path.set("pathType", Node::str("Prefix"));
        Node& backend = path.set("backend", Node::map()).set("service", Node::map());
        backend.set("name", Node::str(svc->second));
        backend.set("port", Node::map()).set("number", Node::num(*svc_port));
        paths.push(std::move(path));
    }
    if (paths.items.empty()) {
        ctx.note("[proxy:" + px.name + "] has no route with a Service: no Ingress");
        return std::nullopt;
    }
    Node rule;
    rule.set("http", Node::map()).set("paths", std::move(paths));
    spec.set("rules", Node::list()).push(std::move(rule));
    o.comments.push_back("From [proxy:" + px.name + "] (" + px.listen + "); routes match by path prefix, as in vigil-proxy");
    return o;
}

Object budget(const Context& ctx, const Workload& w) {
    Object o;
    Node& b = o.body;
    b.set("apiVersion", Node::str("policy/v1"));
    b.set("kind", Node::str("PodDisruptionBudget"));
    b.set("metadata", metadata(ctx, w.name, &w));
    Node& spec = b.set("spec", Node::map());
    spec.set("maxUnavailable", Node::num(1));
    spec.set("selector", Node::map()).set("matchLabels", selector_labels(w));
    o.comments.push_back("One pod of " + w.name + " down at a time (drains, node upgrades), as vigil's rolling restart");
    return o;
}

}  // namespace

std::string unique_service_name(Context& ctx, const std::string& wanted) {
    std::string name = wanted;
    for (int i = 2; ctx.used_service_names.count(name); ++i) {
        const std::string suffix = "-" + std::to_string(i);
        name = wanted.substr(0, 63 - suffix.size()) + suffix;
    }
    ctx.used_service_names.insert(name);
    return name;
}

void plan_upstreams(Context& ctx) {
    for (const auto& u : ctx.config.upstreams) {
        std::vector<Workload*> members;
        std::size_t processes = 0;
        for (const auto& server : u.servers) {
            Workload* found = nullptr;
            for (auto& w : ctx.workloads)
                for (const auto* p : w.procs)
                    if (p->name == server || (!p->address.empty() && p->address == server)) found = &w;
            if (!found) {
                ctx.note("[upstream:" + u.name + "] server " + server +
                         " is not a program of this config: give it an ExternalName Service or Endpoints by hand");
                continue;
            }
            ++processes;
            if (std::find(members.begin(), members.end(), found) == members.end()) members.push_back(found);
        }
        ctx.note("[upstream:" + u.name + "] balance " + (u.balance == config::Balance::least_conn ? "least_conn" : "round_robin") +
                 ", max_fails " + std::to_string(u.max_fails) + ", fail_timeout " + duration_text(u.fail_timeout) +
                 (u.slow_start.count() ? ", slow_start " + duration_text(u.slow_start) : "") +
                 ": a Service spreads connections itself; taking a failing pod out is its readinessProbe's job");
        if (members.empty()) continue;
        // A role pool is its own Service even with one member: it stands
        // for "the primary", which a failover moves to another workload.
        if (u.role) {
            const std::string name = unique_service_name(ctx, dns_label(u.name));
            ctx.upstream_service[u.name] = name;
            for (auto* w : role_members(ctx, u, members, name)) w->upstreams.insert(name);
            continue;
        }
        // An upstream of exactly one workload's processes is that workload's Service.
        if (members.size() == 1 && processes == members[0]->procs.size() && members[0]->port) {
            ctx.upstream_service[u.name] = members[0]->name;
            ctx.service_aliases[members[0]->name].push_back(u.name);
            continue;
        }
        const std::string name = unique_service_name(ctx, dns_label(u.name));
        ctx.upstream_service[u.name] = name;
        for (auto* w : members) {
            w->upstreams.insert(name);
            if (processes < w->procs.size() || w->procs.size() > 1)
                ctx.note("[upstream:" + u.name + "]: every pod of " + w->name + " serves in it");
        }
    }
}

std::vector<Object> network_objects(Context& ctx) {
    std::vector<Object> services;
    for (const auto& w : ctx.workloads) {
        if (!w.port) continue;
        Object o = service(ctx, w.name, selector_labels(w), *w.port, &w);
        std::string from = "Address of " + w.name + " (" + w.procs[0]->address + ")";
        if (auto a = ctx.service_aliases.find(w.name); a != ctx.service_aliases.end())
            for (const auto& u : a->second) from += "; also [upstream:" + u + "]";
        o.comments.push_back(from);
        services.push_back(std::move(o));
    }
    for (const auto& u : ctx.config.upstreams) {
        const auto svc = ctx.upstream_service.find(u.name);
        if (svc == ctx.upstream_service.end() || ctx.service_aliases.count(svc->second)) continue;
        const Workload* first = nullptr;
        for (const auto& w : ctx.workloads)
            if (w.upstreams.count(svc->second) && w.port && !first) first = &w;
        if (!first) {
            ctx.note("[upstream:" + u.name + "]: its programs have no address, so no Service");
            ctx.upstream_service.erase(svc);
            continue;
        }
        Node selector;
        selector.set(upstream_label(svc->second), Node::str("true"));
        Object o = service(ctx, svc->second, std::move(selector), *first->port, nullptr);
        o.comments.push_back("[upstream:" + u.name + "]" +
                             (u.role ? std::string(" role = ") +
                                           (*u.role == config::Role::primary ? "primary" : "replica") +
                                           ": the pods of that role as exported"
                                     : ""));
        services.push_back(std::move(o));
    }
    std::vector<Object> out = services;
    std::vector<const config::Proxy*> exported;
    for (const auto& px : ctx.config.proxies)
        if (auto o = ingress(ctx, px, services, exported)) out.push_back(std::move(*o));
    for (const auto& w : ctx.workloads)
        if (!w.stateful && w.procs.size() >= 2 && w.procs[0]->autostart) out.push_back(budget(ctx, w));
    return out;
}

std::string upstream_label(const std::string& service) { return "upstream.vigil/" + service; }

}  // namespace vigil::k8s::detail
