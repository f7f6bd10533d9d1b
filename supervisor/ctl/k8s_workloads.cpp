// Deployments and StatefulSets: the pod template of a workload (container,
// probes, limits, user, environment, stop, init containers waiting for its
// dependencies) from the first of its processes.
#include <csignal>
#include <cstring>

#include "config/command_line.hpp"
#include "supervisor/ctl/k8s_parts.hpp"

namespace vigil::k8s::detail {
namespace {

using yaml::Node;
using config::HealthKind;

constexpr int kStartupCheckBudgetSeconds = 3600;

// "INT" for 2: the name `kill -NAME` takes in every shell.
std::string signal_name(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    return abbrev ? abbrev : std::to_string(sig);
}

Node strings(const std::vector<std::string>& v) {
    Node n = Node::list();
    for (const auto& s : v) n.push(Node::str(s));
    return n;
}

bool loopback(const std::string& host) {
    return host.empty() || host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "0.0.0.0" ||
           host == "::";
}

// Where a postgres or redis image keeps its data (the official images' paths).
std::string data_mount(const config::Program& p) {
    return p.kind == "postgres" ? "/var/lib/postgresql/data" : "/data";
}

Node env_list(const Workload& w) {
    const config::Program& p = *w.procs[0];
    Node env = Node::list();
    auto add = [&](const std::string& name, Node value, const char* field = "value") {
        Node e;
        e.set("name", Node::str(name));
        e.set(field, std::move(value));
        env.push(std::move(e));
    };
    for (const auto& [k, v] : p.environment) {
        if (p.kind == "postgres" && k == "PGDATA") continue;  // the volume's, below
        add(k, Node::str(v));
    }
    if (p.kind == "postgres") {
        // The official postgres image's interface: it runs initdb itself.
        add("PGDATA", Node::str(data_mount(p) + "/pgdata"));
        add("POSTGRES_USER", Node::str(p.db_user.empty() ? "postgres" : p.db_user));
        add("POSTGRES_DB", Node::str(p.db_name.empty() ? "postgres" : p.db_name));
        Node ref;
        ref.set("name", Node::str(w.name + "-credentials"));
        ref.set("key", Node::str("password"));
        Node from;
        from.set("secretKeyRef", std::move(ref));
        add("POSTGRES_PASSWORD", std::move(from), "valueFrom");
    }
    return env;
}

// The server's own arguments, as vigil's kind runs it (config/kinds.cpp);
// an image entrypoint given a first argument "-…" runs the server with them.
std::vector<std::string> store_args(const config::Program& p, std::uint16_t port) {
    if (p.kind == "postgres")
        return {"-p", std::to_string(port), "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "wal_level=replica",
                "-c", "full_page_writes=on"};
    return {"--port", std::to_string(port), "--appendonly", "yes", "--appendfsync", "everysec", "--save",
            "900 1 300 10 60 10000", "--aof-use-rdb-preamble", "yes"};
}

std::optional<std::int64_t> numeric_id(const std::string& s) {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return std::stoll(s);
}

std::optional<Node> security_context(const config::Program& p) {
    std::optional<std::int64_t> uid = p.user == "root" ? 0 : p.user == "nobody" ? 65534 : numeric_id(p.user);
    Node sc;
    if (uid) {
        sc.set("runAsUser", Node::num(*uid));
        if (*uid != 0) sc.set("runAsNonRoot", Node::boolean(true));
    }
    if (auto gid = numeric_id(p.os_group)) sc.set("runAsGroup", Node::num(*gid));
    if (sc.entries.empty()) return std::nullopt;
    return sc;
}

Node probe(Node handler, int period, int timeout, int failures, int successes) {
    Node p = std::move(handler);
    p.set("periodSeconds", Node::num(period));
    p.set("timeoutSeconds", Node::num(timeout));
    p.set("failureThreshold", Node::num(failures));
    p.set("successThreshold", Node::num(successes));
    return p;
}

void add_probes(Context& ctx, const Workload& w, Node& c) {
    const config::HealthCheck& h = w.procs[0]->health;
    if (h.kind == HealthKind::none) return;
    const bool restart = w.procs[0]->on_unhealthy == config::OnUnhealthy::restart;
    const int period = seconds_up(h.interval), timeout = seconds_up(h.timeout);
    if (auto handler = probe_handler(ctx, w, h)) {
        c.set("readinessProbe", probe(*handler, period, timeout, h.retries, h.rise));
        if (restart) c.set("livenessProbe", probe(*handler, period, timeout, h.retries, 1));
    }
    const int start_period_s = seconds_up(h.start_period);
    const int start_every = seconds_up(h.start_interval);
    if (!h.startup.empty()) {
        if (auto handler = probe_handler(ctx, w, h.startup[0])) {
            const int budget = h.start_period.count() > 0 ? start_period_s : kStartupCheckBudgetSeconds;
            c.set("startupProbe", probe(*handler, start_every, timeout, (budget + start_every - 1) / start_every, 1));
        }
    } else if (restart && h.start_period.count() > 0) {
        if (auto handler = probe_handler(ctx, w, h)) {
            const int failures = (start_period_s + start_every - 1) / start_every + h.retries;
            c.set("startupProbe", probe(*handler, start_every, timeout, failures, 1));
        }
    }
}

// Kubernetes always sends SIGTERM; another stop signal is sent first by a
// preStop hook, which waits for the process to exit.
std::optional<Node> pre_stop(const config::Program& p) {
    if (p.stopsignal == SIGTERM) return std::nullopt;
    const std::string script =
        "kill -" + signal_name(p.stopsignal) + " 1; while kill -0 1 2>/dev/null; do sleep 1; done";
    Node exec;
    exec.set("command", strings({"/bin/sh", "-c", script}));
    Node handler;
    handler.set("exec", std::move(exec));
    Node lifecycle;
    lifecycle.set("preStop", std::move(handler));
    return lifecycle;
}

Node container(Context& ctx, const Workload& w) {
    const config::Program& p = *w.procs[0];
    Node c;
    c.set("name", Node::str(w.name));
    if (!w.image.empty()) c.set("image", Node::str(w.image));
    else
        c.set("image", Node::str("<image of " + w.name + ">",
                                 "no image known: set image = in [program:" + p.program + "] or use --image-map"));
    if (w.stateful) {
        if (w.port) c.set("args", strings(store_args(p, *w.port)));
    } else {
        c.set("command", strings(config::split_command(p.command).argv));
        if (!p.directory.empty()) c.set("workingDir", Node::str(p.directory));
    }
    if (Node env = env_list(w); !env.items.empty()) c.set("env", std::move(env));
    if (w.port) {
        Node port;
        port.set("name", Node::str(std::string(kPortName)));
        port.set("containerPort", Node::num(*w.port));
        port.set("protocol", Node::str("TCP"));
        c.set("ports", Node::list()).push(std::move(port));
    }
    Node amounts;
    if (p.limits.memory_bytes) amounts.set("memory", Node::str(k8s_memory(*p.limits.memory_bytes)));
    if (p.limits.cpu_cores) amounts.set("cpu", Node::str(k8s_cpu(*p.limits.cpu_cores)));
    if (!amounts.entries.empty()) {
        Node& r = c.set("resources", Node::map());
        r.set("requests", amounts);  // vigil's limits are caps: requests = limits keeps them guaranteed
        r.set("limits", std::move(amounts));
    }
    if (auto sc = security_context(p)) c.set("securityContext", std::move(*sc));
    add_probes(ctx, w, c);
    if (auto lc = pre_stop(p)) c.set("lifecycle", std::move(*lc));
    if (w.stateful) {
        Node mount;
        mount.set("name", Node::str("data"));
        mount.set("mountPath", Node::str(data_mount(p)));
        c.set("volumeMounts", Node::list()).push(std::move(mount));
    }
    return c;
}

// One init container per Service this workload depends on: a Service
// routes only to ready pods, so a connection to it means `healthy` (and so
// `started`) in Kubernetes' terms.
Node init_containers(Context& ctx, const Workload& w) {
    Node list = Node::list();
    std::set<std::string> done;
    const auto image_it = ctx.options.images.find(std::string(kWaitImageKey));
    const std::string image = image_it != ctx.options.images.end() ? image_it->second : std::string(kDefaultWaitImage);
    for (const auto& dep : w.procs[0]->depends_on) {
        const Workload* target = nullptr;
        for (const auto& other : ctx.workloads)
            for (const auto* q : other.procs)
                if (q->name == dep.name || q->program == dep.name) target = &other;
        if (!target || !target->port) {
            ctx.note(w.name + ": depends_on " + dep.name + ", which has no address (no Service): nothing to wait for");
            continue;
        }
        if (target == &w || !done.insert(target->name).second) continue;
        const std::string port = std::to_string(*target->port);
        Node c;
        c.set("name", Node::str(dns_label("wait-for-" + target->name)));
        c.set("image", Node::str(image));
        c.set("command", strings({"sh", "-c", "until nc -z -w 2 " + target->name + " " + port +
                                                   "; do echo waiting for " + target->name + "; sleep 1; done"}));
        list.push(std::move(c));
    }
    return list;
}

Node pod_template(Context& ctx, const Workload& w) {
    Node labels = selector_labels(w);
    for (const auto& u : w.upstreams) labels.set(upstream_label(u), Node::str("true"));
    Node t;
    t.set("metadata", Node::map()).set("labels", std::move(labels));
    Node& spec = t.set("spec", Node::map());
    spec.set("terminationGracePeriodSeconds", Node::num(seconds_up(w.procs[0]->stopwaitsecs)));
    if (Node init = init_containers(ctx, w); !init.items.empty()) spec.set("initContainers", std::move(init));
    spec.set("containers", Node::list()).push(container(ctx, w));
    return t;
}

}  // namespace

Object workload_object(Context& ctx, const Workload& w) {
    Object o;
    Node& b = o.body;
    const bool running = w.procs[0]->autostart;
    b.set("apiVersion", Node::str("apps/v1"));
    b.set("kind", Node::str(w.stateful ? "StatefulSet" : "Deployment"));
    annotate_replication(w, b.set("metadata", metadata(ctx, w.name, &w)));
    Node& spec = b.set("spec", Node::map());
    spec.set("replicas", Node::num(running ? static_cast<std::int64_t>(w.procs.size()) : 0));
    spec.set("selector", Node::map()).set("matchLabels", selector_labels(w));
    if (w.stateful) {
        spec.set("serviceName", Node::str(w.name));
        Node& strategy = spec.set("updateStrategy", Node::map());
        strategy.set("type", Node::str("RollingUpdate"));
    } else {
        Node& strategy = spec.set("strategy", Node::map());
        strategy.set("type", Node::str("RollingUpdate"));
        Node& rolling = strategy.set("rollingUpdate", Node::map());
        rolling.set("maxUnavailable", Node::num(0));
        rolling.set("maxSurge", Node::num(1));
    }
    spec.set("template", pod_template(ctx, w));
    if (w.stateful) {
        Node claim;
        claim.set("metadata", Node::map()).set("name", Node::str("data"));
        Node& cs = claim.set("spec", Node::map());
        cs.set("accessModes", strings({"ReadWriteOnce"}));
        cs.set("resources", Node::map())
            .set("requests", Node::map())
            .set("storage", Node::str("1Gi", "a placeholder: vigil does not size data_dir; set what the data needs"));
        spec.set("volumeClaimTemplates", Node::list()).push(std::move(claim));
    }

    const config::Program& p = *w.procs[0];
    o.comments.push_back("From " + (w.source == p.program ? "[program:" + p.program + "]" : "[group:" + w.source + "]") +
                         ": " + std::to_string(w.procs.size()) + " process(es)" +
                         (w.procs.size() > 1 ? ", every pod made from " + p.name + "'s settings" : ""));
    if (w.stateful) {
        o.comments.push_back("kind = " + p.kind + ": data_dir " + p.data_dir + " becomes the volume claim 'data' at " +
                             data_mount(p) + "; args and env follow the official " + p.kind + " image");
        if (p.kind == "postgres")
            o.comments.push_back("POSTGRES_PASSWORD comes from Secret " + w.name +
                                 "-credentials (key password), which is not created here");
        if (!p.replica_of.empty())
            o.comments.push_back("replica_of = " + p.replica_of +
                                 ": a streaming replica under vigild; this pod starts as a server of its own "
                                 "(see the notes on top)");
    }
    if (p.stopsignal != SIGTERM)
        o.comments.push_back("stopsignal SIG" + signal_name(p.stopsignal) +
                             ": sent by the preStop hook (the image needs /bin/sh and kill), then Kubernetes' SIGTERM");
    if (!running) o.comments.push_back("autostart = false: replicas 0");
    return o;
}

std::optional<Node> probe_handler(Context& ctx, const Workload& w, const config::HealthCheck& h) {
    Node handler;
    const std::string port = std::to_string(h.port);
    const std::string host = loopback(h.host) ? "127.0.0.1" : h.host;
    if (!loopback(h.host) && (h.kind == HealthKind::http || h.kind == HealthKind::https || h.kind == HealthKind::tcp))
        ctx.note(w.name + ": its check " + h.target + " probes another host; the probe keeps that host");
    switch (h.kind) {
        case HealthKind::http:
        case HealthKind::https: {
            Node& get = handler.set("httpGet", Node::map());
            get.set("path", Node::str(h.path));
            get.set("port", Node::num(h.port));
            if (!loopback(h.host)) get.set("host", Node::str(h.host));
            get.set("scheme", Node::str(h.kind == HealthKind::https ? "HTTPS" : "HTTP"));
            if (h.expect_status != 0 || !h.expect_body.empty())
                ctx.note(w.name + ": health_expect_status/health_expect_body: an httpGet probe passes on any "
                                  "status from 200 to 399 and never reads the body");
            return handler;
        }
        case HealthKind::tcp: {
            Node& tcp = handler.set("tcpSocket", Node::map());
            tcp.set("port", Node::num(h.port));
            if (!loopback(h.host)) tcp.set("host", Node::str(h.host));
            return handler;
        }
        case HealthKind::exec:
            handler.set("exec", Node::map()).set("command", strings(config::split_command(h.target).argv));
            return handler;
        case HealthKind::postgres:
            handler.set("exec", Node::map())
                .set("command", strings({"pg_isready", "-h", host, "-p", port, "-U",
                                         h.user.empty() ? "postgres" : h.user, "-d",
                                         h.database.empty() ? "postgres" : h.database}));
            return handler;
        case HealthKind::redis:
            handler.set("exec", Node::map()).set("command", strings({"redis-cli", "-h", host, "-p", port, "ping"}));
            return handler;
        case HealthKind::none: break;
    }
    return std::nullopt;
}

int seconds_up(config::Duration d) {
    const auto ms = d.count();
    return ms <= 1000 ? 1 : static_cast<int>((ms + 999) / 1000);
}

}  // namespace vigil::k8s::detail
