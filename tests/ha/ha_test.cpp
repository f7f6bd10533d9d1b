// The seed's six failover scenarios (seeds/000_22e409e81f5ad771.txt,
// "Failover Scenarios") played for real: each test runs its own copy of
// config/examples/payment-system.ini — PostgreSQL A and B, Redis, two
// auth-service and two payment-service instances, vigil-proxy — on free ports
// in a temp dir under the real vigild, drives a steady client load through
// the proxy, applies the fault and measures:
//
//   detection  fault -> vigild's log shows it
//   RTO        fault -> every program healthy again (vigilctl status) and the
//              client's requests succeeding again
//   failed     client requests that did not succeed (any time in the run)
//   lost       payments acknowledged (201, or 200 for a replayed key) that
//              are not in postgres-b afterwards: must be 0 in every scenario
//
// Every wait is on an event or a polled condition with a deadline; the only
// sleep is the load's pacing. Needs root (postgres and redis run as their own
// users); skipped otherwise. Figures: tests/ha/README.md.
#include <catch2/catch.hpp>

#include <condition_variable>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ------------------------------------------------------------------ ports

// Distinct free loopback ports: all sockets are held until every port is
// chosen, so no two are the same.
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

// ------------------------------------------------------------ HTTP client

struct Reply {
    int status = 0;  // 0: no HTTP answer (refused, reset, timeout)
    std::string body;
};

// One request on a fresh connection (Connection: close), with a deadline on
// every socket operation.
Reply http(int port, const std::string& method, const std::string& target, const std::string& headers = "",
           const std::string& body = "", Ms timeout = 5s) {
    Reply r;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
        ::close(fd);
        return r;
    }
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers;
    if (!body.empty() || method == "POST")
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    for (std::size_t sent = 0; sent < req.size();) {
        const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            ::close(fd);
            return r;
        }
        sent += static_cast<std::size_t>(n);
    }
    std::string in;
    char buf[8192];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) in.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    const auto head_end = in.find("\r\n\r\n");
    if (in.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || in.size() < 12) return r;
    r.status = std::atoi(in.c_str() + 9);
    r.body = in.substr(head_end + 4);
    return r;
}

// ------------------------------------------------------------------ stack

bool have_prerequisites(std::string* why) {
    std::string missing;
    if (::geteuid() != 0) missing += " root";
    if (!::getpwnam("postgres")) missing += " a postgres user";
    if (!::getpwnam("redis")) missing += " a redis user";
    if (::access("/usr/bin/redis-server", X_OK) != 0) missing += " redis-server";
    if (::access("/usr/bin/psql", X_OK) != 0) missing += " psql";
    if (::access("/usr/bin/curl", X_OK) != 0) missing += " curl";
    bool pg = false;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
        pg = pg || ::access((e.path() / "bin/postgres").c_str(), X_OK) == 0;
    if (!pg) missing += " PostgreSQL";
    *why = missing;
    return missing.empty();
}

void chown_to(const std::string& path, const std::string& user) {
    passwd* pw = ::getpwnam(user.c_str());
    REQUIRE(pw != nullptr);
    REQUIRE(::chown(path.c_str(), pw->pw_uid, pw->pw_gid) == 0);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

// The processes of the stack, as in payment-system.ini.
const std::vector<std::string> kPrograms{"postgres-a", "postgres-b", "redis",       "proxy",
                                         "service-a-1", "service-a-2", "service-b-1", "service-b-2"};

struct Stack {
    std::unique_ptr<Vigild> v;
    std::map<int, int> port;  // the demo's port -> this stack's port
    int pg_b = 0, internal = 0, public_tls = 0;

    Stack() {
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
        for (const auto& line : lines_of(read_file(std::string(VIGIL_SOURCE_DIR) +
                                                   "/config/examples/payment-system.ini"))) {
            if (!line.empty() && line[0] == '[') skip = line == "[vigil]" || line == "[include]";
            if (!skip) ini += line + "\n";
        }
        ini = replace_all(ini, "/tmp/vigil-demo-payment", dir);
        ini = replace_all(ini, "%(here)s/../../build/services/auth-service", AUTH_SERVICE_PATH);
        ini = replace_all(ini, "%(here)s/../../build/services/payment-service", PAYMENT_SERVICE_PATH);
        ini = replace_all(ini, "%(here)s/../../build/proxy/vigil-proxy", VIGIL_PROXY_PATH);
        ini = replace_all(ini, "%(here)s/payment-system.ini", "%(here)s/vigil.ini");
        const std::vector<int> demo_ports{5432, 5433, 6379, 3001, 3002, 3003, 3004, 8080, 8443};
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
        internal = port[8080];
        public_tls = port[8443];
        write_file(v->config_path(), "[vigil]\ncontrol_socket = " + v->socket_path() + "\nstate_dir = " + dir +
                                         "/state\nlog_dir = " + dir + "/log\nlog_level = info\n\n" + ini);
        v->start();
    }

    // Every program RUNNING (past startsecs: only then does vigild put a pool
    // member back into the proxy) and healthy in `vigilctl status`.
    bool all_healthy() const {
        std::string out;
        if (v->ctl({"status"}, &out, 10s) != 0 && out.empty()) return false;
        std::size_t n = 0;
        for (const auto& line : lines_of(out)) {
            const bool up = line.find(" RUNNING ") != std::string::npos;
            if (up && line.find(" healthy") != std::string::npos) ++n;
        }
        return n == kPrograms.size();
    }

    // Re-checks after each line vigild logs (every state or health change is
    // one), so it wakes on the change itself, bounded by the deadline.
    std::optional<Clock::time_point> wait_all_healthy(Ms timeout) const {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            const std::size_t seen = v->line_count();  // before the check: no change slips between
            if (all_healthy()) return Clock::now();
            const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
            v->wait_for_more(seen, std::min<Ms>(left, 1s));
        }
        return std::nullopt;
    }

    pid_t pid_of(const std::string& name) const {
        std::string out;
        REQUIRE(v->ctl({"pid", name}, &out) == 0);
        return std::stoi(out);
    }

    // Moves the log cursor past everything logged so far.
    void skip_log() {
        while (v->expect(".", 0ms)) {
        }
    }

    std::set<std::string> stored_payment_keys() const {
        std::string out;
        const int rc = run({"psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                            std::to_string(pg_b), "-U", "payment_user", "-d", "payments_db", "-c",
                            "SELECT idempotency_key FROM payments"},
                           &out);
        INFO("psql: " << out);
        REQUIRE(rc == 0);
        std::set<std::string> keys;
        for (const auto& l : lines_of(out))
            if (!l.empty()) keys.insert(l);
        return keys;
    }
};

// vigild and every process below it (postgres workers included).
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

// ------------------------------------------------------------------- load

struct Sample {
    Clock::time_point t;
    bool ok;
    int status;
    char kind;  // 'v' validate (Service A), 'p' payment (Service B)
};

// A client through the proxy's internal listener (the public one limits each
// IP to 100 requests a minute): every 40 ms one token validation and one
// payment with a unique Idempotency-Key, a payment that failed being retried
// with its key (as a real client would) before the next one. Bounded in
// count and time.
class Load {
public:
    Load(int port, std::string token, std::string key_prefix)
        : port_(port), token_(std::move(token)), prefix_(std::move(key_prefix)) {}
    ~Load() { stop(); }

    void start() {
        thread_ = std::thread([this] { loop(); });
    }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }

    std::vector<Sample> samples() const {
        std::lock_guard lock(mu_);
        return samples_;
    }
    std::vector<std::string> acknowledged() const {
        std::lock_guard lock(mu_);
        return acked_;
    }

    // Waits until `n` requests in a row, all started after `after`, succeeded:
    // woken by each recorded sample, bounded by the deadline.
    bool wait_successes(std::size_t n, Clock::time_point after, Ms timeout) const {
        std::unique_lock lock(mu_);
        return recorded_.wait_for(lock, timeout, [&] {
            std::size_t run = 0;
            for (auto it = samples_.rbegin(); it != samples_.rend() && it->ok && it->t >= after; ++it) ++run;
            return run >= n;
        });
    }

private:
    void loop() {
        const auto end = Clock::now() + 90s;
        const std::string auth = "Authorization: Bearer " + token_ + "\r\n";
        std::string pending;
        for (int i = 0; i < 4000 && !stop_ && Clock::now() < end; ++i) {
            const auto t = Clock::now();
            Reply r = http(port_, "GET", "/auth/validate", auth);
            record({t, r.status == 200, r.status, 'v'});

            if (pending.empty()) pending = prefix_ + std::to_string(next_key_++);
            const auto tp = Clock::now();
            r = http(port_, "POST", "/payments/", auth + "Idempotency-Key: " + pending + "\r\n",
                     R"({"amount_cents":1250,"currency":"EUR","description":"ha load"})");
            const bool ok = r.status == 201 || r.status == 200;
            record({tp, ok, r.status, 'p'});
            if (ok) {
                std::lock_guard lock(mu_);
                acked_.push_back(pending);
                pending.clear();
            }
            std::this_thread::sleep_until(t + 40ms);  // pacing of the load, not a wait
        }
    }
    void record(const Sample& s) {
        {
            std::lock_guard lock(mu_);
            samples_.push_back(s);
        }
        recorded_.notify_all();
    }

    int port_;
    std::string token_, prefix_;
    int next_key_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    mutable std::mutex mu_;
    mutable std::condition_variable recorded_;
    std::vector<Sample> samples_;
    std::vector<std::string> acked_;
};

// --------------------------------------------------------------- scenarios

struct Scenario {
    int number;
    std::string title;
    std::string seed_detection;  // the seed's figure, as text
    double seed_rto_low, seed_rto_high;  // seconds
    std::string detect_re;               // vigild's log line that shows the fault ("" = none)
};

struct Figures {
    double detection = -1;  // seconds; < 0: not applicable
    double rto = 0;
    std::size_t requests = 0, failed = 0, failed_validations = 0, failed_payments = 0;
    std::size_t acknowledged = 0, lost = 0;
};

std::string fmt(double s) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(2) << s << " s";
    return o.str();
}

std::string range(double lo, double hi) {
    auto one = [](double s) {
        std::ostringstream o;
        if (s >= 60 && static_cast<int>(s) % 60 == 0) o << static_cast<int>(s / 60) << " min";
        else o << s << " s";
        return o.str();
    };
    return one(lo) + " – " + one(hi);
}

void report(const Scenario& sc, const Figures& f) {
    std::ostringstream t;
    t << "\n| scenario " << sc.number << ": " << sc.title << " | vigil | seed | target (seed / 10) |\n"
      << "| --- | --- | --- | --- |\n"
      << "| detection | " << (f.detection < 0 ? std::string("n/a") : fmt(f.detection)) << " | "
      << sc.seed_detection << " | |\n"
      << "| RTO | " << fmt(f.rto) << " | " << range(sc.seed_rto_low, sc.seed_rto_high) << " | ≤ "
      << sc.seed_rto_low / 10 << " s |\n"
      << "| failed requests | " << f.failed << " of " << f.requests << " (" << f.failed_validations
      << " validations, " << f.failed_payments << " payments) | | |\n"
      << "| payments acknowledged / lost | " << f.acknowledged << " / " << f.lost << " | | 0 lost |\n";
    std::cout << t.str() << std::flush;
    std::error_code ec;
    fs::create_directories(VIGIL_HA_RESULTS_DIR, ec);
    std::ofstream(std::string(VIGIL_HA_RESULTS_DIR) + "/scenario-" + std::to_string(sc.number) + ".md") << t.str();
}

// Brings a stack up, logs a user in, starts the load, applies `fault`, and
// measures. `restart` (scenario 6) is run after the fault and before the
// recovery is awaited.
Figures play(const Scenario& sc, const std::function<void(Stack&)>& fault) {
    Stack s;
    const auto up = s.wait_all_healthy(60s);
    INFO(s.v->log_text());
    REQUIRE(up);
    INFO("proxy's log:\n" << read_file(s.v->dir() / "log/proxy.err.log") << read_file(s.v->dir() / "log/proxy.out.log"));

    // The public HTTPS listener answers the seed's health JSON.
    std::string out;
    REQUIRE(run({"curl", "-sk", "--max-time", "5", "https://127.0.0.1:" + std::to_string(s.public_tls) +
                                                       "/auth/health"},
                &out) == 0);
    CHECK(out.find(R"("status":"ok")") != std::string::npos);
    CHECK(out.find(R"("service":"auth-service")") != std::string::npos);

    const std::string user = "ha" + std::to_string(sc.number) + "_" + std::to_string(::getpid());
    const std::string creds = R"({"username":")" + user + R"(","password":"secret-123"})";
    REQUIRE(http(s.internal, "POST", "/auth/register", "", creds).status == 201);
    const Reply login = http(s.internal, "POST", "/auth/login", "", creds);
    REQUIRE(login.status == 200);
    std::smatch m;
    REQUIRE(std::regex_search(login.body, m, std::regex(R"re("token":"([0-9a-f]{64})")re")));

    Load load(s.internal, m[1].str(), "ha-" + std::to_string(sc.number) + "-");
    load.start();
    REQUIRE(load.wait_successes(20, Clock::now(), 20s));  // warmed up: the token is cached in Redis

    s.skip_log();
    Figures f;
    const auto t0 = Clock::now();
    fault(s);
    if (!sc.detect_re.empty()) {
        const auto line = s.v->expect(sc.detect_re, 30s);
        INFO(s.v->log_text());
        REQUIRE(line);
        f.detection = secs(Clock::now() - t0);
    }
    const auto healthy = s.wait_all_healthy(45s);
    {
        INFO(s.v->log_text());
        REQUIRE(healthy);
    }
    const bool serving = load.wait_successes(20, *healthy, 30s);
    load.stop();
    {
        INFO(s.v->log_text());
        REQUIRE(serving);
    }

    // RTO: all healthy, and the first success after the last failure.
    auto recovered = *healthy;
    const auto samples = load.samples();
    std::optional<Clock::time_point> last_fail;
    for (const auto& x : samples) {
        ++f.requests;
        if (!x.ok) {
            ++f.failed;
            (x.kind == 'v' ? f.failed_validations : f.failed_payments)++;
            if (x.t >= t0) last_fail = x.t;
        }
    }
    if (last_fail)
        for (const auto& x : samples)
            if (x.t > *last_fail && x.ok) {
                recovered = std::max(recovered, x.t);
                break;
            }
    f.rto = secs(recovered - t0);

    // Every acknowledged payment is in postgres-b, once.
    const auto acked = load.acknowledged();
    const auto stored = s.stored_payment_keys();
    f.acknowledged = acked.size();
    for (const auto& k : acked)
        if (!stored.count(k)) ++f.lost;
    report(sc, f);
    return f;
}

}  // namespace

#define HA_PREREQUISITES()                                                   \
    do {                                                                     \
        std::string why;                                                     \
        if (!have_prerequisites(&why)) {                                     \
            WARN("skipped, missing:" << why);                                \
            return;                                                          \
        }                                                                    \
    } while (0)

TEST_CASE("scenario 1: one service-a instance killed, no request fails", "[ha]") {
    HA_PREREQUISITES();
    const Scenario sc{1, "single service instance failure (kill -9 service-a-1)", "30 – 90 s", 60, 120,
                      "service-a-1: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) { ::kill(s.pid_of("service-a-1"), SIGKILL); });
    CHECK(f.lost == 0);
    CHECK(f.failed == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 2: postgres-a stopped, services recover without a lost payment", "[ha]") {
    HA_PREREQUISITES();
    const Scenario sc{2, "database failure (SIGINT to postgres-a's postmaster)", "10 – 30 s", 30, 60,
                      "postgres-a: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) { ::kill(s.pid_of("postgres-a"), SIGINT); });
    CHECK(f.lost == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 3: redis killed, payments go on through the fallback", "[ha]") {
    HA_PREREQUISITES();
    const Scenario sc{3, "Redis failure (kill -9 redis)", "immediate", 10, 20, "redis: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) { ::kill(s.pid_of("redis"), SIGKILL); });
    CHECK(f.lost == 0);
    CHECK(f.failed_payments == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 4: the proxy killed and restarted", "[ha]") {
    HA_PREREQUISITES();
    const Scenario sc{4, "load balancer failure (kill -9 vigil-proxy)", "immediate", 10, 20, "proxy: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) { ::kill(s.pid_of("proxy"), SIGKILL); });
    CHECK(f.lost == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 5: the whole service-a pool killed", "[ha]") {
    HA_PREREQUISITES();
    const Scenario sc{5, "complete pool failure (kill -9 service-a-1 and -2)", "30 – 90 s", 60, 120,
                      "service-a-[12]: RUNNING -> "};
    const auto f = play(sc, [](Stack& s) {
        const pid_t a = s.pid_of("service-a-1"), b = s.pid_of("service-a-2");
        ::kill(a, SIGKILL);
        ::kill(b, SIGKILL);
    });
    CHECK(f.lost == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}

TEST_CASE("scenario 6: host restart, vigild and every child SIGKILLed, then vigild again", "[ha]") {
    HA_PREREQUISITES();
    const Scenario sc{6, "host restart (SIGKILL vigild and all 8 programs, start vigild again)", "n/a", 120, 180,
                      ""};
    const auto f = play(sc, [](Stack& s) {
        // The whole tree at once, as a power cut would: vigild first so that
        // nothing is restarted, then everything it had started.
        const auto tree = process_tree(s.v->pid());
        for (pid_t p : tree) ::kill(p, SIGKILL);
        REQUIRE(s.v->wait_exit(10s) >= 0);
        for (pid_t p : tree) REQUIRE(wait_gone(p, 10s));
        s.v->start();  // "the machine is back": vigild on the same state and data dirs
        REQUIRE(s.v->expect("vigild [0-9.]+ starting", 10s));
    });
    CHECK(f.lost == 0);
    CHECK(f.rto <= sc.seed_rto_low / 10);
}
