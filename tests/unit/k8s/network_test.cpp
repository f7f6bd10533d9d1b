// vigilctl export kubernetes: Services, Ingresses, PodDisruptionBudgets, the
// namespace, and the payment example as a whole.
#include "k8s_helpers.hpp"

using namespace k8stest;

namespace {

// Two public listeners with the same routes (:443 and :8443).
std::string front(const std::string& name, int port) {
    return "[proxy:" + name + "]\nlisten = 0.0.0.0:" + std::to_string(port) +
           "\ntls_cert = /etc/tls/cert.pem\ntls_key = /etc/tls/key.pem\n"
           "route = /api/ api_pool\nroute = /search/ mixed\nrate_limit = 120/min\n";
}

const std::string kShop = R"(
[group:api]
programs = api-1, api-2

[program:api-1]
command = /srv/api
address = 127.0.0.1:7001

[program:api-2]
command = /srv/api
address = 127.0.0.1:7002

[program:search]
command = /srv/search
address = 0.0.0.0:9000

[upstream:api_pool]
servers = api-1, api-2

[upstream:mixed]
servers = api-1, search, 10.0.0.9:80

[proxy:inside]
listen = 127.0.0.1:8080
route = /api/ api_pool

[program:proxy]
kind = proxy
)" + front("front", 443) + front("front-8443", 8443);

}  // namespace

TEST_CASE("k8s: a Service per address and an upstream of one workload is that workload's Service") {
    const Manifest m = exported(kShop);
    const Object& api = object(m, "Service", "api");
    CHECK(at(api.body, {"apiVersion"}) == "v1");
    CHECK(at(api.body, {"spec", "type"}) == "ClusterIP");
    CHECK(at(api.body, {"spec", "selector", "app.kubernetes.io/name"}) == "api");
    CHECK(at(api.body, {"spec", "ports", "0", "port"}) == "7001");
    CHECK(at(api.body, {"spec", "ports", "0", "targetPort"}) == "serve");
    CHECK(at(api.body, {"spec", "ports", "0", "protocol"}) == "TCP");
    CHECK(api.comments.at(0).find("also [upstream:api_pool]") != std::string::npos);
    CHECK(!has(m, "Service", "api-pool"));
    CHECK(at(object(m, "Service", "search").body, {"spec", "ports", "0", "port"}) == "9000");
}

TEST_CASE("k8s: an upstream across workloads selects its members by a label their pods carry") {
    const Manifest m = exported(kShop);
    const Object& mixed = object(m, "Service", "mixed");
    CHECK(at(mixed.body, {"spec", "selector", "upstream.vigil/mixed"}) == "true");
    for (const char* w : {"api", "search"})
        CHECK(at(object(m, "Deployment", w).body,
                 {"spec", "template", "metadata", "labels", "upstream.vigil/mixed"}) == "true");
    CHECK(noted(m, "[upstream:mixed] server 10.0.0.9:80 is not a program of this config"));
    CHECK(noted(m, "[upstream:mixed]: every pod of api serves in it"));
    CHECK(noted(m, "[upstream:mixed] balance least_conn, max_fails 3, fail_timeout 30s"));
}

TEST_CASE("k8s: a public [proxy:*] is an Ingress with its routes, TLS secret and rate limit") {
    const Manifest m = exported(kShop);
    CHECK(m.count("Ingress") == 1);  // front-8443 has front's routes; inside is loopback
    const Object& in = object(m, "Ingress", "front");
    CHECK(at(in.body, {"apiVersion"}) == "networking.k8s.io/v1");
    CHECK(at(in.body, {"spec", "ingressClassName"}) == "nginx");
    CHECK(at(in.body, {"metadata", "annotations", "nginx.ingress.kubernetes.io/limit-rpm"}) == "120");
    CHECK(at(in.body, {"metadata", "annotations", "nginx.ingress.kubernetes.io/limit-burst-multiplier"}) == "1");
    CHECK(at(in.body, {"spec", "tls", "0", "secretName"}) == "front-tls");
    const Node& paths = *in.body.at({"spec", "rules", "0", "http", "paths"});
    REQUIRE(paths.items.size() == 2);
    CHECK(at(paths, {"0", "path"}) == "/api/");
    CHECK(at(paths, {"0", "pathType"}) == "Prefix");
    CHECK(at(paths, {"0", "backend", "service", "name"}) == "api");
    CHECK(at(paths, {"0", "backend", "service", "port", "number"}) == "7001");
    CHECK(at(paths, {"1", "backend", "service", "name"}) == "mixed");
    bool secret_hint = false;
    for (const auto& c : in.comments)
        secret_hint |= c.find("kubectl create secret tls front-tls --cert=/etc/tls/cert.pem --key=/etc/tls/key.pem") !=
                       std::string::npos;
    CHECK(secret_hint);
    CHECK(noted(m, "[proxy:inside] listens on 127.0.0.1:8080 only: not exported"));
    CHECK(noted(m, "[proxy:front-8443] (0.0.0.0:8443) has the routes of [proxy:front]"));
    CHECK(noted(m, "[program:proxy] is vigil-proxy"));
    CHECK(!has(m, "Deployment", "proxy"));
}

TEST_CASE("k8s: a PodDisruptionBudget for each workload of two or more instances") {
    const Manifest m = exported(kShop);
    const Object& pdb = object(m, "PodDisruptionBudget", "api");
    CHECK(at(pdb.body, {"apiVersion"}) == "policy/v1");
    CHECK(at(pdb.body, {"spec", "maxUnavailable"}) == "1");
    CHECK(at(pdb.body, {"spec", "selector", "matchLabels", "app.kubernetes.io/name"}) == "api");
    CHECK(!has(m, "PodDisruptionBudget", "search"));
}

TEST_CASE("k8s: --namespace is on every object") {
    ExportOptions o;
    o.namespace_name = "shop";
    const Manifest m = exported(kShop, o);
    REQUIRE(!m.objects.empty());
    for (const auto& obj : m.objects) CHECK(at(obj.body, {"metadata", "namespace"}) == "shop");
}

TEST_CASE("k8s: the payment example: StatefulSets for the databases, the replica and Redis, the services' probes, "
          "limits and routes") {
    const auto loaded = vigil::config::load_file((cfgtest::examples_dir() / "payment-system.ini").string(), {});
    INFO(cfgtest::dump(loaded));
    REQUIRE(loaded.ok());
    const Manifest m = vigil::k8s::build_manifest(*loaded.config, {});
    CHECK(m.count("StatefulSet") == 5);
    CHECK(m.count("Deployment") == 2);
    CHECK(m.count("Service") == 9);  // the 7 workloads', payments-db and cache (the TCP listeners' role = primary pools)
    CHECK(m.count("Ingress") == 1);  // also with scripts/demo.sh's :443 listener
    CHECK(m.count("PodDisruptionBudget") == 2);
    for (const char* s : {"postgres-a", "postgres-b", "postgres-b-replica", "redis", "redis-replica"})
        CHECK(has(m, "StatefulSet", s));
    CHECK(at(object(m, "Service", "cache").body, {"spec", "selector", "upstream.vigil/cache"}) == "true");
    const Object& db = object(m, "Service", "payments-db");
    CHECK(at(db.body, {"spec", "selector", "upstream.vigil/payments-db"}) == "true");
    CHECK(at(db.body, {"spec", "ports", "0", "port"}) == "5433");
    CHECK(noted(m, "[proxy:payments-db] mode = tcp (127.0.0.1:6433): an Ingress routes HTTP only; in the cluster, "
                   "clients connect to Service payments-db ([upstream:payments_db]) directly"));
    for (const char* svc : {"service-a", "service-b"}) {
        const Object& d = object(m, "Deployment", svc);
        CHECK(at(d.body, {"spec", "replicas"}) == "2");
        const Node& c = container(d);
        CHECK(at(c, {"readinessProbe", "httpGet", "path"}) == "/health");
        CHECK(at(c, {"readinessProbe", "periodSeconds"}) == "2");
        CHECK(at(c, {"resources", "limits", "memory"}) == "512Mi");
        CHECK(at(c, {"resources", "limits", "cpu"}) == "1");
        CHECK(at(c, {"securityContext", "runAsUser"}) == "65534");
    }
    CHECK(texts(object(m, "Deployment", "service-b").body.at({"spec", "template", "spec", "initContainers"})) .size() == 2);
    const Node& paths = *object(m, "Ingress", "public").body.at({"spec", "rules", "0", "http", "paths"});
    CHECK(at(paths, {"0", "path"}) == "/auth/");
    CHECK(at(paths, {"0", "backend", "service", "name"}) == "service-a");
    CHECK(at(paths, {"1", "path"}) == "/payments/");
    CHECK(at(paths, {"1", "backend", "service", "name"}) == "service-b");
}

namespace {

const std::string kPair = R"(
[program:db]
kind = postgres
user = postgres
pg_bin_dir = /usr/lib/postgresql/15/bin
data_dir = /var/lib/db
address = 127.0.0.1:5433
failover_after = 3s

[program:db-replica]
kind = postgres
user = postgres
pg_bin_dir = /usr/lib/postgresql/15/bin
replica_of = db
data_dir = /var/lib/db-replica
address = 127.0.0.1:5434

[upstream:writes]
servers = db, db-replica
role = primary

[upstream:reads]
servers = db, db-replica
role = replica

[program:proxy]
kind = proxy

[proxy:db-tcp]
mode = tcp
listen = 127.0.0.1:6433
route = writes
)";

}  // namespace

TEST_CASE("k8s: replica_of is a StatefulSet of its own, a role pool's Service selects the pods of that role") {
    const Manifest m = exported(kPair);
    const Object& primary = object(m, "StatefulSet", "db");
    const Object& replica = object(m, "StatefulSet", "db-replica");
    CHECK(at(primary.body, {"metadata", "annotations", "replication.vigil/role"}) == "primary");
    CHECK(primary.body.at({"metadata", "annotations", "replication.vigil/replica-of"}) == nullptr);
    CHECK(at(replica.body, {"metadata", "annotations", "replication.vigil/role"}) == "replica");
    CHECK(at(replica.body, {"metadata", "annotations", "replication.vigil/replica-of"}) == "db");
    // role = primary: only the primary's pods carry the pool's label.
    CHECK(at(object(m, "Service", "writes").body, {"spec", "selector", "upstream.vigil/writes"}) == "true");
    CHECK(at(primary.body, {"spec", "template", "metadata", "labels", "upstream.vigil/writes"}) == "true");
    CHECK(replica.body.at({"spec", "template", "metadata", "labels", "upstream.vigil/writes"}) == nullptr);
    // role = replica: only the replica's.
    CHECK(at(replica.body, {"spec", "template", "metadata", "labels", "upstream.vigil/reads"}) == "true");
    CHECK(primary.body.at({"spec", "template", "metadata", "labels", "upstream.vigil/reads"}) == nullptr);
    CHECK(at(object(m, "Service", "reads").body, {"spec", "ports", "0", "port"}) == "5434");
    CHECK(noted(m, "[program:db-replica] replica_of = db: a StatefulSet of its own"));
    CHECK(noted(m, "[program:db] failover_after 3s and vigild's failover"));
    CHECK(noted(m, "[upstream:writes] role = primary: its Service selects the pods of db (the primary as "
                   "configured) only; after a failover move its label upstream.vigil/writes=true"));
    CHECK(noted(m, "clients connect to Service writes ([upstream:writes]) directly"));
}

TEST_CASE("k8s: a Redis replica_of is annotated and its notes name Redis' tools") {
    const Manifest m = exported(R"(
[program:cache]
kind = redis
user = redis
redis_bin = /usr/bin/redis-server
data_dir = /var/lib/cache
address = 127.0.0.1:6379

[program:cache-replica]
kind = redis
user = redis
redis_bin = /usr/bin/redis-server
replica_of = cache
data_dir = /var/lib/cache-replica
address = 127.0.0.1:6380
)");
    CHECK(at(object(m, "StatefulSet", "cache-replica").body, {"metadata", "annotations", "replication.vigil/replica-of"}) ==
          "cache");
    CHECK(noted(m, "replica (REPLICAOF is vigild's work)"));
    CHECK(noted(m, "Redis Sentinel"));
}

TEST_CASE("k8s: the YAML stream has the notes on top and one document per object") {
    const Manifest m = exported(kShop);
    const std::string y = vigil::k8s::to_yaml(m, "shop.ini");
    CHECK(y.rfind("# Kubernetes objects exported by vigilctl from shop.ini", 0) == 0);
    CHECK(y.find("# Not expressible in Kubernetes (review before applying):\n# - ") != std::string::npos);
    std::size_t docs = 0;
    for (std::size_t at = y.find("---\n"); at != std::string::npos; at = y.find("---\n", at + 1)) ++docs;
    CHECK(docs == m.objects.size());
    CHECK(y.find("kind: \"Ingress\"\n") != std::string::npos);
}
