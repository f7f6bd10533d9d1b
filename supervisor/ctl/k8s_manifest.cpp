// Plans the export: which processes become one workload, their names and
// images, and what of the config Kubernetes cannot say; then asks
// k8s_workloads.cpp and k8s_network.cpp for the objects.
#include "supervisor/ctl/k8s_manifest.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>

#include "supervisor/ctl/k8s_parts.hpp"
#include "supervisor/ctl/yaml_writer.hpp"

namespace vigil::k8s {
namespace detail {
namespace {

using yaml::Node;

bool stateful_kind(const std::string& kind) { return kind == "postgres" || kind == "redis"; }

std::optional<std::uint16_t> address_port(const std::string& address) {
    const auto colon = address.rfind(':');
    if (address.empty() || colon == std::string::npos) return std::nullopt;
    const int port = std::atoi(address.c_str() + colon + 1);
    if (port <= 0 || port > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(port);
}

bool loopback_address(const std::string& address) {
    return address.rfind("127.", 0) == 0 || address.rfind("localhost:", 0) == 0 || address.rfind("[::1]", 0) == 0;
}

// Which settings of `q` differ from the pod template `p`.
std::vector<std::string> differences(const config::Program& p, const config::Program& q) {
    std::vector<std::string> d;
    if (p.address != q.address) d.push_back("address");
    if (p.environment != q.environment) d.push_back("environment");
    if (p.health.target != q.health.target) d.push_back("healthcheck");
    if (!(p.health == q.health) && p.health.target == q.health.target) d.push_back("health_*");
    if (p.user != q.user) d.push_back("user");
    if (!(p.limits == q.limits)) d.push_back("limits");
    if (p.directory != q.directory) d.push_back("directory");
    if (!(p.depends_on == q.depends_on)) d.push_back("depends_on");
    return d;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

std::string image_for(const Context& ctx, const Workload& w) {
    const config::Program& p = *w.procs[0];
    for (const auto& key : {w.source, p.program, p.name})
        if (auto it = ctx.options.images.find(key); it != ctx.options.images.end()) return it->second;
    return p.image;
}

void plan_workloads(Context& ctx) {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const config::Program*>> by_group;
    for (const auto& p : ctx.config.programs) {
        if (p.kind == "proxy") {
            if (p.process_num == 0 || p.numprocs == 1)
                ctx.note("[program:" + p.program + "] is vigil-proxy (kind = proxy): its listeners become Ingresses, "
                         "its upstreams Services");
            continue;
        }
        // postgres and redis: one StatefulSet per program, groups or not.
        const std::string key = stateful_kind(p.kind) ? "program:" + p.program : "group:" + p.group;
        if (!by_group.count(key)) order.push_back(key);
        by_group[key].push_back(&p);
    }
    std::set<std::string> names;
    auto add = [&](const std::string& source, std::vector<const config::Program*> procs) {
        Workload w;
        w.source = source;
        const std::string wanted = dns_label(source);
        std::string name = wanted;
        for (int i = 2; names.count(name); ++i) {  // "a_b" and "a.b" are both a-b
            const std::string suffix = "-" + std::to_string(i);
            name = wanted.substr(0, 63 - suffix.size()) + suffix;
        }
        names.insert(name);
        ctx.used_service_names.insert(name);
        w.name = name;
        w.procs = std::move(procs);
        w.stateful = stateful_kind(w.procs[0]->kind);
        w.port = address_port(w.procs[0]->address);
        ctx.workloads.push_back(std::move(w));
    };
    for (const auto& key : order) {
        const auto& procs = by_group[key];
        const std::string source = key.substr(key.find(':') + 1);
        const bool shared = std::all_of(procs.begin(), procs.end(), [&](const config::Program* q) {
            return q->command == procs[0]->command && q->image == procs[0]->image && q->kind == procs[0]->kind;
        });
        if (shared || procs[0]->program == procs[0]->group || key.rfind("program:", 0) == 0) {
            add(source, procs);
            continue;
        }
        ctx.note("[group:" + source + "]: its programs differ in command or image, so each is a Deployment of its own");
        std::vector<std::string> programs;
        std::map<std::string, std::vector<const config::Program*>> split;
        for (const auto* q : procs) {
            if (!split.count(q->program)) programs.push_back(q->program);
            split[q->program].push_back(q);
        }
        for (const auto& prog : programs) add(prog, split[prog]);
    }
    for (auto& w : ctx.workloads) w.image = image_for(ctx, w);
}

void note_program(Context& ctx, const Workload& w) {
    const config::Program& p = *w.procs[0];
    const config::Program defaults;
    const std::string who = w.name + ": ";
    std::vector<std::string> lost;
    for (std::size_t i = 1; i < w.procs.size(); ++i)
        if (auto d = differences(p, *w.procs[i]); !d.empty())
            ctx.note(who + w.procs[i]->name + " differs from " + p.name + " in " + join(d) + "; every pod runs with " +
                     p.name + "'s" + (d[0] == "address" ? " (each pod has an IP of its own, so one port serves)" : ""));
    if (p.autorestart != config::AutoRestart::always)
        lost.push_back("autorestart and exitcodes (a Deployment's pods restart after every exit)");
    if (p.startretries) lost.push_back("startretries (Kubernetes retries for ever)");
    if (!stateful_kind(p.kind) && !(p.backoff == defaults.backoff))
        lost.push_back("backoff (Kubernetes' crash back-off: 10s doubling up to 5 min)");
    if (p.backoff_reset != defaults.backoff_reset) lost.push_back("backoff_reset");
    if (p.startsecs != defaults.startsecs) lost.push_back("startsecs (a container counts as started once it runs)");
    if (p.priority != defaults.priority) lost.push_back("priority (only depends_on orders starts: init containers)");
    if (p.umask) lost.push_back("umask");
    if (!stateful_kind(p.kind) && p.notify) lost.push_back("notify (the readinessProbe says ready)");
    if (p.watchdog) lost.push_back("watchdog (a livenessProbe can stand in)");
    if (p.limits.pids) lost.push_back("pids_limit (a kubelet setting, not a pod's)");
    if (!p.user.empty() && p.user != "root" && p.user != "nobody" &&
        p.user.find_first_not_of("0123456789") != std::string::npos)
        lost.push_back("user = " + p.user + " (runAsUser takes a uid: the one " + p.user + " has in the image)");
    if (!p.os_group.empty() && p.os_group.find_first_not_of("0123456789") != std::string::npos)
        lost.push_back("group = " + p.os_group + " (runAsGroup takes a gid)");
    if (p.health.rise > 1) lost.push_back("health_rise (successThreshold also applies to a pod's first readiness)");
    if (!p.health.startup.empty() && p.on_unhealthy == config::OnUnhealthy::isolate)
        lost.push_back("startup_check with on_unhealthy = isolate (a startupProbe that runs out restarts the pod)");
    std::vector<std::string> rounded;
    auto whole = [&](const char* key, config::Duration d) {
        if (d.count() % 1000 != 0 || d.count() < 1000)
            rounded.push_back(std::string(key) + " " + std::to_string(d.count()) + "ms");
    };
    if (p.health.kind != config::HealthKind::none) {
        whole("health_interval", p.health.interval);
        whole("health_timeout", p.health.timeout);
        if (p.health.start_period.count() > 0 || !p.health.startup.empty())
            whole("health_start_interval", p.health.start_interval);
    }
    whole("stopwaitsecs", p.stopwaitsecs);
    if (!rounded.empty()) lost.push_back(join(rounded) + " (rounded up to whole seconds, at least 1)");
    if (!lost.empty()) ctx.note(who + "not expressible: " + join(lost, "; "));
    if (!stateful_kind(p.kind) && loopback_address(p.address))
        ctx.note(who + "listens on " + p.address + "; in a pod it must listen on 0.0.0.0 for its Service to reach it");
    std::vector<std::string> loop_env;
    for (const auto& [k, v] : p.environment)
        if (v.find("127.0.0.1") != std::string::npos || v.find("localhost") != std::string::npos)
            loop_env.push_back(k);
    if (!loop_env.empty())
        ctx.note(who + "environment " + join(loop_env) +
                 " name loopback addresses: point them at the Services listed above");
}

}  // namespace

Node selector_labels(const Workload& w) {
    Node labels;
    labels.set("app.kubernetes.io/name", Node::str(w.name));
    return labels;
}

Node metadata(const Context& ctx, const std::string& name, const Workload* w) {
    Node m;
    m.set("name", Node::str(name));
    if (!ctx.options.namespace_name.empty()) m.set("namespace", Node::str(ctx.options.namespace_name));
    Node& labels = m.set("labels", Node::map());
    if (w) labels = selector_labels(*w);
    labels.set("app.kubernetes.io/managed-by", Node::str("vigilctl-export"));
    return m;
}

}  // namespace detail

std::string Object::kind() const {
    const yaml::Node* k = body.get("kind");
    return k ? k->text : std::string();
}

std::string Object::name() const {
    const yaml::Node* n = body.at({"metadata", "name"});
    return n ? n->text : std::string();
}

int Manifest::count(std::string_view kind) const {
    return static_cast<int>(std::count_if(objects.begin(), objects.end(), [&](const Object& o) { return o.kind() == kind; }));
}

Manifest build_manifest(const config::Config& config, const ExportOptions& options) {
    Manifest m;
    detail::Context ctx{config, options, m.not_expressible, {}, {}, {}, {}};
    ctx.note("[vigil] (control socket, state and log directories) and log files with their rotation: Kubernetes "
             "keeps each container's stdout and stderr (kubectl logs)");
    detail::plan_workloads(ctx);
    detail::plan_upstreams(ctx);
    std::vector<std::string> addresses;
    for (const auto& w : ctx.workloads)
        if (w.port)
            for (const auto* p : w.procs) addresses.push_back(p->address + " → " + w.name + ":" + std::to_string(*w.port));
    if (!addresses.empty()) ctx.note("addresses become Services: " + detail::join(addresses));
    for (const auto& w : ctx.workloads) detail::note_program(ctx, w);
    for (const auto& w : ctx.workloads) detail::note_replication(ctx, w);
    for (const auto& w : ctx.workloads) m.objects.push_back(detail::workload_object(ctx, w));
    for (auto& o : detail::network_objects(ctx)) m.objects.push_back(std::move(o));
    // Probes built twice (readiness, startup) note the same thing twice.
    std::vector<std::string> unique;
    for (auto& n : m.not_expressible)
        if (std::find(unique.begin(), unique.end(), n) == unique.end()) unique.push_back(std::move(n));
    m.not_expressible = std::move(unique);
    return m;
}

std::string to_yaml(const Manifest& m, std::string_view source) {
    std::vector<std::string> head{"Kubernetes objects exported by vigilctl from " + std::string(source) +
                                  " (docs/kubernetes.md)."};
    head.push_back(std::to_string(m.objects.size()) + " objects: " + std::to_string(m.count("Deployment")) +
                   " Deployment, " + std::to_string(m.count("StatefulSet")) + " StatefulSet, " +
                   std::to_string(m.count("Service")) + " Service, " + std::to_string(m.count("Ingress")) +
                   " Ingress, " + std::to_string(m.count("PodDisruptionBudget")) + " PodDisruptionBudget.");
    head.push_back("");
    head.push_back("Not expressible in Kubernetes (review before applying):");
    for (const auto& n : m.not_expressible) head.push_back("- " + n);
    std::string out = yaml::comment_lines(head);
    for (const auto& o : m.objects) out += "---\n" + yaml::comment_lines(o.comments) + yaml::to_yaml(o.body);
    return out;
}

std::string dns_label(std::string_view name) {
    std::string out;
    for (char c : name) {
        const unsigned char u = static_cast<unsigned char>(c);
        if (std::isalnum(u)) out += static_cast<char>(std::tolower(u));
        else if (!out.empty() && out.back() != '-') out += '-';
    }
    if (out.empty() || !std::isalpha(static_cast<unsigned char>(out[0]))) out = "x-" + out;
    if (out.size() > 63) out.resize(63);
    while (!out.empty() && out.back() == '-') out.pop_back();
    return out;
}

std::string k8s_memory(std::uint64_t bytes) {
    constexpr std::uint64_t mi = 1024 * 1024;
    if (bytes % (1024 * mi) == 0) return std::to_string(bytes / (1024 * mi)) + "Gi";
    if (bytes % mi == 0) return std::to_string(bytes / mi) + "Mi";
    return std::to_string(bytes);
}

std::string k8s_cpu(double cores) {
    const long long milli = std::llround(cores * 1000);
    if (milli % 1000 == 0) return std::to_string(milli / 1000);
    return std::to_string(std::max(1LL, milli)) + "m";
}

ImageMap parse_image_map(std::string_view text, const std::string& file) {
    ImageMap m;
    int line_no = 0;
    std::size_t from = 0;
    while (from <= text.size()) {
        const std::size_t nl = text.find('\n', from);
        std::string line(text.substr(from, nl == std::string_view::npos ? std::string_view::npos : nl - from));
        from = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        ++line_no;
        auto trim = [](std::string s) {
            const auto b = s.find_first_not_of(" \t\r");
            if (b == std::string::npos) return std::string();
            return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
        };
        line = trim(line);
        if (line.empty() || line[0] == '#' || line[0] == ';') continue;
        const auto eq = line.find('=');
        const std::string key = eq == std::string::npos ? "" : trim(line.substr(0, eq));
        const std::string image = eq == std::string::npos ? "" : trim(line.substr(eq + 1));
        const std::string where = file + ":" + std::to_string(line_no) + ": ";
        if (key.empty() || image.empty()) m.errors.push_back(where + "expected NAME = IMAGE, got '" + line + "'");
        else if (image.find_first_of(" \t\"'") != std::string::npos)
            m.errors.push_back(where + "an image reference has no blanks or quotes, got '" + image + "'");
        else if (!m.images.emplace(key, image).second) m.errors.push_back(where + "'" + key + "' is mapped twice");
    }
    return m;
}

}  // namespace vigil::k8s
