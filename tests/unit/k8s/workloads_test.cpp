// vigilctl export kubernetes: Deployments and StatefulSets, field by field.
#include "k8s_helpers.hpp"

using namespace k8stest;

namespace {

// Two members that share a command and differ in address, port and check.
std::string member(int n) {
    const std::string port = std::to_string(8000 + n);
    return "[program:web-" + std::to_string(n) + "]\n"
           "command = /srv/web --port 8001 --name \"a b\"\n"
           "directory = /srv\nuser = nobody\n"
           "address = 127.0.0.1:" + port + "\n"
           "environment = PORT=" + port + ", MODE=prod\n"
           "healthcheck = http://127.0.0.1:" + port + "/health\n"
           "health_interval = 5s\nhealth_timeout = 2s\nhealth_retries = 4\nhealth_rise = 2\n"
           "stopwaitsecs = 20s\nmemory_limit = 512M\ncpu_limit = 0.5\n";
}

const std::string kGroup = "[group:web]\nprograms = web-1, web-2\n" + member(1) + member(2);

}  // namespace

TEST_CASE("k8s: a group whose members share a command is one Deployment with a replica each") {
    const Manifest m = exported(kGroup);
    const Object& d = object(m, "Deployment", "web");
    CHECK(at(d.body, {"apiVersion"}) == "apps/v1");
    CHECK(at(d.body, {"spec", "replicas"}) == "2");
    CHECK(at(d.body, {"spec", "selector", "matchLabels", "app.kubernetes.io/name"}) == "web");
    CHECK(at(d.body, {"spec", "template", "metadata", "labels", "app.kubernetes.io/name"}) == "web");
    CHECK(at(d.body, {"spec", "strategy", "type"}) == "RollingUpdate");
    CHECK(at(d.body, {"spec", "strategy", "rollingUpdate", "maxUnavailable"}) == "0");
    CHECK(at(d.body, {"spec", "strategy", "rollingUpdate", "maxSurge"}) == "1");
    CHECK(at(d.body, {"spec", "template", "spec", "terminationGracePeriodSeconds"}) == "20");
    CHECK(d.body.at({"metadata", "namespace"}) == nullptr);

    const Node& c = container(d);
    CHECK(at(c, {"name"}) == "web");
    CHECK(texts(c.get("command")) == std::vector<std::string>{"/srv/web", "--port", "8001", "--name", "a b"});
    CHECK(at(c, {"workingDir"}) == "/srv");
    CHECK(at(c, {"env", "0", "name"}) == "PORT");
    CHECK(at(c, {"env", "0", "value"}) == "8001");  // web-1's: noted below
    CHECK(at(c, {"env", "1", "name"}) == "MODE");
    CHECK(at(c, {"ports", "0", "containerPort"}) == "8001");
    CHECK(at(c, {"ports", "0", "name"}) == "serve");
    CHECK(at(c, {"resources", "limits", "memory"}) == "512Mi");
    CHECK(at(c, {"resources", "limits", "cpu"}) == "500m");
    CHECK(at(c, {"resources", "requests", "memory"}) == "512Mi");
    CHECK(at(c, {"securityContext", "runAsUser"}) == "65534");
    CHECK(at(c, {"securityContext", "runAsNonRoot"}) == "true");
    CHECK(noted(m, "web-2 differs from web-1 in address, environment, healthcheck"));
    CHECK(noted(m, "listens on 127.0.0.1:8001; in a pod it must listen on 0.0.0.0"));
}

TEST_CASE("k8s: on_unhealthy = isolate is a readinessProbe, restart adds a livenessProbe") {
    const Manifest isolate = exported(kGroup);
    const Node& c = container(object(isolate, "Deployment", "web"));
    CHECK(at(c, {"readinessProbe", "httpGet", "path"}) == "/health");
    CHECK(at(c, {"readinessProbe", "httpGet", "port"}) == "8001");
    CHECK(at(c, {"readinessProbe", "httpGet", "scheme"}) == "HTTP");
    CHECK(c.at({"readinessProbe", "httpGet", "host"}) == nullptr);
    CHECK(at(c, {"readinessProbe", "periodSeconds"}) == "5");
    CHECK(at(c, {"readinessProbe", "timeoutSeconds"}) == "2");
    CHECK(at(c, {"readinessProbe", "failureThreshold"}) == "4");
    CHECK(at(c, {"readinessProbe", "successThreshold"}) == "2");
    CHECK(c.get("livenessProbe") == nullptr);
    CHECK(c.get("startupProbe") == nullptr);

    const Manifest restart = exported(R"(
[program:api]
command = /srv/api
healthcheck = https://127.0.0.1:9443/live
health_interval = 500ms
health_rise = 3
health_start_period = 10s
health_start_interval = 2s
on_unhealthy = restart
)");
    const Node& r = container(object(restart, "Deployment", "api"));
    CHECK(at(r, {"livenessProbe", "httpGet", "scheme"}) == "HTTPS");
    CHECK(at(r, {"livenessProbe", "periodSeconds"}) == "1");  // 500ms, rounded up
    CHECK(at(r, {"livenessProbe", "successThreshold"}) == "1");  // Kubernetes requires 1
    CHECK(at(r, {"readinessProbe", "successThreshold"}) == "3");
    // The start period: checks every 2s, failures counted after 10s, 3 allowed.
    CHECK(at(r, {"startupProbe", "periodSeconds"}) == "2");
    CHECK(at(r, {"startupProbe", "failureThreshold"}) == "8");
    CHECK(noted(restart, "health_interval 500ms"));
}

TEST_CASE("k8s: startup_check is the startupProbe and tcp, exec, postgres and redis checks become handlers") {
    const Manifest m = exported(R"(
[program:a]
command = /srv/a
healthcheck = tcp://127.0.0.1:7000
startup_check = exec:/srv/a --ready "x y"
health_start_interval = 5s

[program:b]
command = /srv/b
healthcheck = postgres://shop@127.0.0.1:5432/orders

[program:c]
command = /srv/c
healthcheck = redis://127.0.0.1:6380
)");
    const Node& a = container(object(m, "Deployment", "a"));
    CHECK(at(a, {"readinessProbe", "tcpSocket", "port"}) == "7000");
    CHECK(texts(a.at({"startupProbe", "exec", "command"})) == std::vector<std::string>{"/srv/a", "--ready", "x y"});
    CHECK(at(a, {"startupProbe", "periodSeconds"}) == "5");
    CHECK(at(a, {"startupProbe", "failureThreshold"}) == "720");  // an hour: vigil would wait for ever
    CHECK(noted(m, "startup_check with on_unhealthy = isolate"));
    CHECK(texts(container(object(m, "Deployment", "b")).at({"readinessProbe", "exec", "command"})) ==
          std::vector<std::string>{"pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "shop", "-d", "orders"});
    CHECK(texts(container(object(m, "Deployment", "c")).at({"readinessProbe", "exec", "command"})) ==
          std::vector<std::string>{"redis-cli", "-h", "127.0.0.1", "-p", "6380", "ping"});
}

TEST_CASE("k8s: a stop signal other than SIGTERM is sent by a preStop hook") {
    const Manifest m = exported(R"(
[program:q]
command = /srv/q
stopsignal = QUIT
stopwaitsecs = 45s

[program:t]
command = /srv/t
)");
    const Node& q = container(object(m, "Deployment", "q"));
    CHECK(texts(q.at({"lifecycle", "preStop", "exec", "command"})) ==
          std::vector<std::string>{"/bin/sh", "-c", "kill -QUIT 1; while kill -0 1 2>/dev/null; do sleep 1; done"});
    CHECK(at(object(m, "Deployment", "q").body, {"spec", "template", "spec", "terminationGracePeriodSeconds"}) == "45");
    CHECK(container(object(m, "Deployment", "t")).get("lifecycle") == nullptr);
}

TEST_CASE("k8s: depends_on becomes init containers that wait for the target's Service") {
    const Manifest m = exported(R"(
[program:db]
kind = redis
user = redis
data_dir = /var/lib/r
address = 127.0.0.1:6379

[program:app]
command = /srv/app
depends_on = db:healthy, worker

[program:worker]
command = /srv/worker
)");
    const Node& spec = *object(m, "Deployment", "app").body.at({"spec", "template", "spec"});
    const Node* init = spec.get("initContainers");
    REQUIRE(init != nullptr);
    REQUIRE(init->items.size() == 1);
    CHECK(at(*init, {"0", "name"}) == "wait-for-db");
    CHECK(at(*init, {"0", "image"}) == "busybox:1.36");
    CHECK(texts(init->items[0].get("command"))[2] == "until nc -z -w 2 db 6379; do echo waiting for db; sleep 1; done");
    CHECK(noted(m, "app: depends_on worker, which has no address"));

    ExportOptions o;
    o.images[":wait"] = "registry.example.com/tools/wait:1";
    CHECK(at(object(exported(R"(
[program:db]
command = /srv/db
address = 127.0.0.1:1
[program:app]
command = /srv/app
depends_on = db
)", o), "Deployment", "app").body, {"spec", "template", "spec", "initContainers", "0", "image"}) ==
          "registry.example.com/tools/wait:1");
}

TEST_CASE("k8s: kind = postgres and redis are StatefulSets with a volume claim") {
    const Manifest m = exported(R"(
[program:pg]
kind = postgres
user = postgres
pg_bin_dir = /usr/lib/postgresql/15/bin
data_dir = /var/lib/pg
address = 127.0.0.1:5433
db_user = shop
db_name = orders
memory_limit = 1G

[program:cache]
kind = redis
user = 999
data_dir = /var/lib/cache
address = 127.0.0.1:6379
)");
    const Object& pg = object(m, "StatefulSet", "pg");
    CHECK(at(pg.body, {"spec", "serviceName"}) == "pg");
    CHECK(at(pg.body, {"spec", "replicas"}) == "1");
    CHECK(at(pg.body, {"spec", "volumeClaimTemplates", "0", "metadata", "name"}) == "data");
    CHECK(at(pg.body, {"spec", "volumeClaimTemplates", "0", "spec", "accessModes", "0"}) == "ReadWriteOnce");
    CHECK(at(pg.body, {"spec", "volumeClaimTemplates", "0", "spec", "resources", "requests", "storage"}) == "1Gi");
    const Node& c = container(pg);
    CHECK(c.get("command") == nullptr);  // the image's entrypoint, not vigil's initdb wrapper
    CHECK(texts(c.get("args"))[1] == "5433");
    CHECK(at(c, {"volumeMounts", "0", "mountPath"}) == "/var/lib/postgresql/data");
    CHECK(at(c, {"env", "0", "name"}) == "PGDATA");
    CHECK(at(c, {"env", "0", "value"}) == "/var/lib/postgresql/data/pgdata");
    CHECK(at(c, {"env", "1", "value"}) == "shop");
    CHECK(at(c, {"env", "2", "value"}) == "orders");
    CHECK(at(c, {"env", "3", "valueFrom", "secretKeyRef", "name"}) == "pg-credentials");
    CHECK(at(c, {"resources", "limits", "memory"}) == "1Gi");
    CHECK(texts(c.at({"readinessProbe", "exec", "command"}))[0] == "pg_isready");
    CHECK(texts(c.at({"lifecycle", "preStop", "exec", "command"}))[2].rfind("kill -INT 1;", 0) == 0);
    CHECK(noted(m, "pg: not expressible: user = postgres"));

    const Node& r = container(object(m, "StatefulSet", "cache"));
    CHECK(at(r, {"securityContext", "runAsUser"}) == "999");
    CHECK(at(r, {"volumeMounts", "0", "mountPath"}) == "/data");
    CHECK(texts(r.get("args"))[3] == "yes");  // --appendonly yes, as vigil runs redis
    CHECK(!has(m, "PodDisruptionBudget", "pg"));
}

TEST_CASE("k8s: images from image =, --image-map (which wins), else a placeholder and a comment") {
    const char* ini = R"(
[program:a]
command = /srv/a
image = registry.example.com/a:1

[program:b]
command = /srv/b
)";
    const Manifest plain = exported(ini);
    CHECK(at(container(object(plain, "Deployment", "a")), {"image"}) == "registry.example.com/a:1");
    const Node* b = container(object(plain, "Deployment", "b")).get("image");
    REQUIRE(b != nullptr);
    CHECK(b->text == "<image of b>");
    CHECK(b->comment.find("no image known") != std::string::npos);
    ExportOptions o;
    o.images["a"] = "registry.example.com/a:2";
    o.images["b"] = "registry.example.com/b:7";
    const Manifest mapped = exported(ini, o);
    CHECK(at(container(object(mapped, "Deployment", "a")), {"image"}) == "registry.example.com/a:2");
    CHECK(at(container(object(mapped, "Deployment", "b")), {"image"}) == "registry.example.com/b:7");
}

TEST_CASE("k8s: members of a group with different commands are Deployments of their own and numprocs is replicas") {
    const Manifest m = exported(R"(
[group:jobs]
programs = mail, index

[program:mail]
command = /srv/mail

[program:index]
command = /srv/index
numprocs = 3
process_name = index_%(process_num)d
autostart = false
)");
    CHECK(at(object(m, "Deployment", "mail").body, {"spec", "replicas"}) == "1");
    CHECK(at(object(m, "Deployment", "index").body, {"spec", "replicas"}) == "0");  // autostart = false
    CHECK(!has(m, "Deployment", "jobs"));
    CHECK(noted(m, "[group:jobs]: its programs differ in command"));
    CHECK(!has(m, "PodDisruptionBudget", "index"));
}

TEST_CASE("k8s: what a Deployment cannot say is listed, not dropped") {
    const Manifest m = exported(R"(
[program:x]
command = /srv/x
user = www-data
autorestart = unexpected
startretries = 3
backoff = 100ms,2,10s
priority = 5
umask = 022
pids_limit = 10
watchdog = 10s
)");
    for (const char* key : {"autorestart", "startretries", "backoff", "priority", "umask", "pids_limit", "watchdog",
                            "user = www-data"})
        CHECK(noted(m, key));
    CHECK(noted(m, "x: not expressible: "));
    CHECK(container(object(m, "Deployment", "x")).get("securityContext") == nullptr);
}

TEST_CASE("k8s: names, quantities and the image map file") {
    using namespace vigil::k8s;
    CHECK(dns_label("service_a") == "service-a");
    CHECK(dns_label("Web.1@eu") == "web-1-eu");
    CHECK(dns_label("9lives") == "x-9lives");
    CHECK(dns_label(std::string(80, 'a')).size() == 63);
    CHECK(k8s_memory(512ull << 20) == "512Mi");
    CHECK(k8s_memory(2ull << 30) == "2Gi");
    CHECK(k8s_memory(1500000) == "1500000");
    CHECK(k8s_cpu(1.0) == "1");
    CHECK(k8s_cpu(0.25) == "250m");
    CHECK(k8s_cpu(1.5) == "1500m");
    const auto good = parse_image_map("# images\nweb = reg.example.com/web:1\n\n; x\n:wait=busybox:1.36\n", "m");
    CHECK(good.errors.empty());
    CHECK(good.images.at("web") == "reg.example.com/web:1");
    CHECK(good.images.at(":wait") == "busybox:1.36");
    const auto bad = parse_image_map("web\nweb = a b\nx = y\nx = z\n", "images.map");
    CHECK(bad.errors == std::vector<std::string>{"images.map:1: expected NAME = IMAGE, got 'web'",
                                                 "images.map:2: an image reference has no blanks or quotes, got 'a b'",
                                                 "images.map:4: 'x' is mapped twice"});
}

TEST_CASE("k8s: programs whose names make the same DNS label get distinct names") {
    const Manifest m = exported("[program:a_b]\ncommand = /srv/x\n[program:a.b]\ncommand = /srv/y\n");
    CHECK(has(m, "Deployment", "a-b"));
    CHECK(has(m, "Deployment", "a-b-2"));
}
