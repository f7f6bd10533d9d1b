// The payment stack fixture (stack.hpp): moved out of ha_test.cpp so that
// tests/chaos runs the very same stack.
#include "stack.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

namespace vigil::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

void chown_to(const std::string& path, const std::string& user) {
    passwd* pw = ::getpwnam(user.c_str());
    REQUIRE(pw != nullptr);
    REQUIRE(::chown(path.c_str(), pw->pw_uid, pw->pw_gid) == 0);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

}  // namespace

std::vector<int> free_ports(std::size_t n) {
    std::vector<int> fds, ports;
    for (std::size_t i = 0; i < n; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        fds.push_back(fd);
        ports.push_back(ntohs(a.sin_port));
    }
    for (int fd : fds) ::close(fd);
    return ports;
}

Prerequisites stack_prerequisites() {
    Prerequisites need;
    need.root().user("postgres").user("redis").user("nobody").postgres();
    for (const char* p : {"/usr/bin/redis-server", "/usr/bin/psql", "/usr/bin/curl"}) need.executable(p);
    return need;
}

const std::vector<std::string> kPrograms{"postgres-a",  "postgres-b",    "postgres-b-replica", "redis",
                                         "redis-replica", "proxy",     "service-a-1",        "service-a-2",
                                         "service-b-1", "service-b-2"};

Stack::Stack() {
    v = std::make_unique<Vigild>("");
    const std::string dir = v->dir().path();
    ::chmod(dir.c_str(), 0755);  // postgres, redis and nobody reach their files below it
    for (const char* d : {"db", "cache", "tls"}) fs::create_directory(dir + "/" + d);
    chown_to(dir + "/db", "postgres");
    chown_to(dir + "/cache", "redis");
    REQUIRE(run({VIGIL_PROXY_PATH, "--gen-cert", dir + "/tls/cert.pem", dir + "/tls/key.pem"}) == 0);

    // The demo's config, with this stack's dir, ports and binaries. Its
    // [vigil] and [include] sections are replaced by the harness's.
    std::string ini;
    bool skip = false;
    for (const auto& line :
         lines_of(read_file(std::string(VIGIL_SOURCE_DIR) + "/config/examples/payment-system.ini"))) {
        if (!line.empty() && line[0] == '[') skip = line == "[vigil]" || line == "[include]";
        if (!skip) ini += line + "\n";
    }
    ini = replace_all(ini, "/tmp/vigil-demo-payment", dir);
    // The services run as nobody: from dir/bin (as the demo's), never from
    // the build tree, which nobody may not reach (a clone in /root).
    for (const char* binary : {AUTH_SERVICE_PATH, PAYMENT_SERVICE_PATH}) install_reachable(v->dir(), binary);
    REQUIRE(ini.find(dir + "/bin/auth-service") != std::string::npos);
    REQUIRE(ini.find(dir + "/bin/payment-service") != std::string::npos);
    ini = replace_all(ini, "%(here)s/payment-system.ini", "%(here)s/vigil.ini");
    const std::vector<int> demo_ports{5432, 5433, 5434, 6433, 6379, 6380, 6479, 3001, 3002, 3003, 3004, 8080, 8443};
    const auto fresh = free_ports(demo_ports.size());
    for (std::size_t i = 0; i < demo_ports.size(); ++i) {
        port[demo_ports[i]] = fresh[i];
        ini = std::regex_replace(ini, std::regex("\\b" + std::to_string(demo_ports[i]) + "\\b"),
                                 "@P" + std::to_string(i) + "@");
    }
    for (std::size_t i = 0; i < demo_ports.size(); ++i)
        ini = replace_all(ini, "@P" + std::to_string(i) + "@", std::to_string(fresh[i]));
    REQUIRE(ini.find("8443") == std::string::npos);
    pg_b = port[5433];
    pg_b_replica = port[5434];
    payments_db = port[6433];
    redis = port[6379];
    redis_replica = port[6380];
    cache = port[6479];
    internal = port[8080];
    public_tls = port[8443];
    write_file(v->config_path(), "[vigil]\ncontrol_socket = " + v->socket_path() + "\nstate_dir = " + dir +
                                     "/state\nlog_dir = " + dir + "/log\nlog_level = info\n\n" + ini);
    v->start();
}

bool Stack::all_healthy() const {
    std::string out;
    if (v->ctl({"status"}, &out, 10s) != 0 && out.empty()) return false;
    std::size_t n = 0;
    for (const auto& line : lines_of(out)) {
        const bool up = line.find(" RUNNING ") != std::string::npos;
        if (up && line.find(" healthy") != std::string::npos) ++n;
    }
    return n == kPrograms.size();
}

std::optional<Clock::time_point> Stack::wait_all_healthy(Ms timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        const std::size_t seen = v->line_count();  // before the check: no change slips between
        if (all_healthy()) return Clock::now();
        const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
        v->wait_for_more(seen, std::min<Ms>(left, 1s));
    }
    return std::nullopt;
}

bool Stack::wait_status(const std::string& name, const std::string& needle, Ms timeout) const {
    const auto deadline = Clock::now() + timeout;
    std::string out;
    for (;;) {
        const std::size_t seen = v->line_count();  // before the check: no change slips between
        out.clear();
        v->ctl({"status", name}, &out, 10s);
        if (out.find(needle) != std::string::npos) return true;
        const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
        if (left <= 0ms) break;
        v->wait_for_more(seen, std::min<Ms>(left, 1s));
    }
    UNSCOPED_INFO("waited in vain for '" << needle << "' in " << name << "'s status: " << out);
    return false;
}

pid_t Stack::pid_of(const std::string& name) const {
    std::string out;
    REQUIRE(v->ctl({"pid", name}, &out) == 0);
    return std::stoi(out);
}

void Stack::skip_log() {
    while (v->expect(".", 0ms)) {
    }
}

std::string Stack::login(const std::string& user) const {
    const std::string creds = R"({"username":")" + user + R"(","password":"secret-123"})";
    KeepAliveClient setup(internal);
    REQUIRE(setup.request("POST", "/auth/register", "", creds).status == 201);
    const Reply r = setup.request("POST", "/auth/login", "", creds);
    REQUIRE(r.status == 200);
    std::smatch m;
    REQUIRE(std::regex_search(r.body, m, std::regex(R"re("token":"([0-9a-f]{64})")re")));
    return m[1].str();
}

std::set<std::string> Stack::stored_payment_keys() const {
    // Through the TCP listener: it reaches whichever server is the primary
    // now (and waits for one during a failover, up to its connect_timeout).
    std::string out;
    const int rc = run({"psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                        std::to_string(payments_db), "-U", "payment_user", "-d", "payments_db", "-c",
                        "SELECT idempotency_key FROM payments"},
                       &out);
    INFO("psql: " << out);
    REQUIRE(rc == 0);
    std::set<std::string> keys;
    for (const auto& l : lines_of(out))
        if (!l.empty()) keys.insert(l);
    return keys;
}

long logged_after(const Stack& s, const std::string& re, std::size_t from, Clock::time_point t0, Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        const std::size_t seen = s.v->line_count();
        if (s.v->find_line(re, from)) return static_cast<long>(std::chrono::duration_cast<Ms>(Clock::now() - t0).count());
        const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
        INFO("waiting for '" << re << "'\n" << s.v->log_text());
        REQUIRE(left > 0ms);
        s.v->wait_for_more(seen, left);
    }
}

std::vector<pid_t> process_tree(pid_t root) {
    std::multimap<pid_t, pid_t> children;
    for (const auto& p : all_processes()) children.emplace(p.ppid, p.pid);
    std::vector<pid_t> out{root};
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto [b, e] = children.equal_range(out[i]);
        for (auto it = b; it != e; ++it) out.push_back(it->second);
    }
    return out;
}

}  // namespace vigil::test
