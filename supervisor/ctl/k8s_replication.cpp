// Replicated data stores in the export (docs/kubernetes.md, "Replicas"):
// a `replica_of` program stays a StatefulSet of its own, both members carry
// annotations naming their role, and a `role = primary | replica` pool's
// Service selects only the pods of that role as exported. What vigild does
// at run time (base backup, synchronous mode, failover, switchover, rejoin)
// has no Kubernetes object: it is listed, with what does it in a cluster.
#include "supervisor/core/duration_text.hpp"
#include "supervisor/ctl/k8s_parts.hpp"

namespace vigil::k8s::detail {

void note_replication(Context& ctx, const Workload& w) {
    const config::Program& p = *w.procs[0];
    if (!p.replicated) return;
    const std::string who = "[program:" + p.program + "] ";
    const bool postgres = p.kind == "postgres";
    if (!p.replica_of.empty()) {
        ctx.note(who + "replica_of = " + p.replica_of + ": a StatefulSet of its own (annotation " +
                 std::string(kReplicaOfAnnotation) + "); the official " + p.kind + " image does not make itself a " +
                 (postgres ? "streaming replica (pg_basebackup, primary_conninfo, standby.signal are vigild's work): "
                             "use an operator (CloudNativePG, Zalando's postgres-operator) or an image that does "
                             "(bitnami/postgresql's POSTGRESQL_REPLICATION_MODE=slave)"
                           : "replica (REPLICAOF is vigild's work): use an operator or an image that does "
                             "(bitnami/redis's REDIS_REPLICATION_MODE=slave)"));
        return;
    }
    ctx.note(who + "failover_after " + core::duration_text(p.failover_after) + " and vigild's failover, switchover" +
             (postgres ? ", synchronous mode" : "") + " and rejoin: no Kubernetes object does them; " +
             (postgres ? "a PostgreSQL operator (CloudNativePG, Patroni in Zalando's postgres-operator) does"
                       : "Redis Sentinel (bitnami/redis's sentinel mode) or a Redis operator does"));
}

void annotate_replication(const Workload& w, yaml::Node& metadata) {
    const config::Program& p = *w.procs[0];
    if (!p.replicated) return;
    yaml::Node& ann = metadata.set("annotations", yaml::Node::map());
    ann.set(std::string(kRoleAnnotation), yaml::Node::str(p.replica_of.empty() ? "primary" : "replica"));
    if (!p.replica_of.empty()) ann.set(std::string(kReplicaOfAnnotation), yaml::Node::str(p.replica_of));
}

std::vector<Workload*> role_members(Context& ctx, const config::Upstream& u, const std::vector<Workload*>& members,
                                   const std::string& service) {
    if (!u.role) return members;
    const bool want_primary = *u.role == config::Role::primary;
    std::vector<Workload*> primaries, replicas;
    for (auto* w : members) (w->procs[0]->replica_of.empty() ? primaries : replicas).push_back(w);
    std::vector<Workload*> chosen = want_primary ? primaries : replicas;
    std::string names;
    for (const auto* w : chosen) names += (names.empty() ? "" : ", ") + w->name;
    if (want_primary) {
        ctx.note("[upstream:" + u.name + "] role = primary: its Service selects the pods of " + names +
                 " (the primary as configured) only; after a failover move its label " +
                 upstream_label(service) + "=true to the new primary's pod (an operator's Service "
                 "does this itself)");
        return chosen;
    }
    if (chosen.empty()) {
        ctx.note("[upstream:" + u.name + "] role = replica has no replica in this config: its Service selects "
                 "the primary");
        return primaries;
    }
    ctx.note("[upstream:" + u.name + "] role = replica: its Service selects the replicas " + names +
             " (not the primary when every replica is down, as vigil-proxy would)");
    return chosen;
}

}  // namespace vigil::k8s::detail
