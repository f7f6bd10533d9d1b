// Shared by the pieces of the Kubernetes mapping (k8s_manifest.cpp plans,
// k8s_workloads.cpp builds pods, k8s_network.cpp builds Services, Ingresses
// and budgets). Not part of the export's interface.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "supervisor/ctl/k8s_manifest.hpp"

namespace vigil::k8s::detail {

// The processes one Deployment or StatefulSet runs: a [group:x] whose
// members share a command, a numprocs program, or one program.
struct Workload {
    std::string name;    // the Kubernetes name
    std::string source;  // the vigil group or program it comes from
    std::vector<const config::Program*> procs;  // procs[0] is the template of every pod
    bool stateful = false;                      // kind = postgres | redis
    std::optional<std::uint16_t> port;          // procs[0]'s address
    std::string image;                          // empty: unknown
    std::set<std::string> upstreams;            // Service names of the [upstream:*] it serves in
};

struct Context {
    const config::Config& config;
    const ExportOptions& options;
    std::vector<std::string>& notes;  // Manifest::not_expressible
    std::vector<Workload> workloads;
    std::set<std::string> used_service_names;
    std::map<std::string, std::string> upstream_service;  // [upstream:X] → the Service that stands for it
    std::map<std::string, std::vector<std::string>> service_aliases;  // workload Service → upstreams it also is

    void note(std::string text) { notes.push_back(std::move(text)); }
};

yaml::Node metadata(const Context& ctx, const std::string& name, const Workload* w);
yaml::Node selector_labels(const Workload& w);

// Deployment or StatefulSet, with its pod template.
Object workload_object(Context& ctx, const Workload& w);
// A Service per workload with an address, per [upstream:*]; an Ingress per
// public [proxy:*]; a PodDisruptionBudget per workload of ≥ 2 replicas.
std::vector<Object> network_objects(Context& ctx);
// Decides each upstream's Service (a workload's own, or one that selects
// its members by label) before the pods, which carry those labels.
void plan_upstreams(Context& ctx);
std::string unique_service_name(Context& ctx, const std::string& wanted);

// Health check → probe handler (httpGet, tcpSocket, exec); nullopt with a
// note when it cannot be one.
std::optional<yaml::Node> probe_handler(Context& ctx, const Workload& w, const config::HealthCheck& h);

// The container port's name, which Services target.
inline constexpr std::string_view kPortName = "serve";

// Replicated stores (k8s_replication.cpp): the members' annotations and
// notes, and which members a role pool's Service selects.
inline constexpr std::string_view kRoleAnnotation = "replication.vigil/role";
inline constexpr std::string_view kReplicaOfAnnotation = "replication.vigil/replica-of";
void note_replication(Context& ctx, const Workload& w);
void annotate_replication(const Workload& w, yaml::Node& metadata);
std::vector<Workload*> role_members(Context& ctx, const config::Upstream& u, const std::vector<Workload*>& members,
                                   const std::string& service);

int seconds_up(config::Duration d);  // Kubernetes counts whole seconds, at least 1
std::string upstream_label(const std::string& service);

}  // namespace vigil::k8s::detail
