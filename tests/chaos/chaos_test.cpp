// Chaos under load (issue 8, item 2): the payment stack of
// config/examples/payment-system.ini (tests/ha/stack.hpp: PostgreSQL A and B,
// Redis, two auth-service and two payment-service instances, vigil-proxy,
// all under the real vigild) serves a steady client load through the proxy
// while a seeded random schedule kill -9s service instances, the databases,
// Redis, the proxy and vigild itself. Afterwards:
//
//   - every program RUNNING and healthy (waited for, with a deadline);
//   - no zombie below vigild, no process of the stack left outside its tree;
//   - vigild's fd count and RSS flat: sampled at every quiet point (all
//     healthy again after a fault), compared first → last within each vigild
//     generation (a restarted vigild is a new process), bounded by +16 fds
//     and +2 MiB;
//   - every acknowledged payment (201, or 200 for a replayed key) in
//     postgres-b;
//   - the failed-request count and the faults injected/survived printed.
//
// VIGIL_CHAOS_SEED replays a schedule (the seed is printed at the start);
// VIGIL_CHAOS_SECONDS sets how long faults are injected (default 60: the
// ctest/CI run; 600 for the full local run). Every wait is on an event or a
// polled condition with a deadline, the pauses between faults included.
// Needs root (postgres and redis run as their own users), PostgreSQL and
// Redis: SKIPPED otherwise.
// Figures: tests/reliability/README.md.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "stack.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ------------------------------------------------------------------- load

// Clients through the proxy's internal listener (the public one limits each
// IP to 100 requests a minute), each on one kept-alive connection (a new one
// only when the server closed it), as payment client libraries do. Each
// client, every 40 ms: one token validation (GET, Service A) and one payment
// (POST with a body) with a unique Idempotency-Key (Service B), a failed
// payment being retried with its key before the next one; every 25th round
// also a login (POST, Service A, PostgreSQL A). Bounded in time and rounds;
// the pacing is a wait on the stop flag.
class Load {
public:
    struct Counts {
        std::size_t requests = 0, failed = 0, connections = 0;
        std::map<std::string, std::pair<std::size_t, std::size_t>> by_kind;  // kind -> requests, failed
    };

    Load(int port, std::string token, std::string creds, int clients, Clock::duration bound)
        : port_(port), token_(std::move(token)), creds_(std::move(creds)), end_(Clock::now() + bound) {
        for (int c = 0; c < clients; ++c) threads_.emplace_back([this, c] { loop(c); });
    }
    ~Load() { stop(); }

    void stop() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }

    // Waits until `n` requests in a row, all started after `after`, succeeded.
    bool wait_successes(std::size_t n, Clock::time_point after, Ms timeout) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return streak_after(after) >= n || stop_; }) &&
               streak_after(after) >= n;
    }

    // A pause of the schedule: returns at the deadline, or early if the load
    // was stopped.
    void pause(Ms d) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, d, [&] { return stop_; });
    }

    Counts counts() const {
        std::lock_guard lock(mu_);
        return counts_;
    }
    std::vector<std::string> acknowledged() const {
        std::lock_guard lock(mu_);
        return acked_;
    }

private:
    // The latest requests that succeeded in a row, all started after `after`.
    std::size_t streak_after(Clock::time_point after) const {
        std::size_t run = 0;
        for (auto it = recent_.rbegin(); it != recent_.rend() && it->second && it->first >= after; ++it) ++run;
        return run;
    }

    void loop(int index) {
        const std::string auth = "Authorization: Bearer " + token_ + "\r\n";
        const std::string prefix = "chaos-" + std::to_string(::getpid()) + "-" + std::to_string(index) + "-";
        KeepAliveClient client(port_);
        std::size_t opened = 0;
        std::string pending;
        int next_key = 0;
        for (long round = 0; round < 200'000 && Clock::now() < end_; ++round) {
            const auto t = Clock::now();
            Reply r = client.request("GET", "/auth/validate", auth);
            record("validate", t, r.status == 200);

            if (pending.empty()) pending = prefix + std::to_string(next_key++);
            const auto tp = Clock::now();
            r = client.request("POST", "/payments/", auth + "Idempotency-Key: " + pending + "\r\n",
                               R"({"amount_cents":1250,"currency":"EUR","description":"chaos load"})");
            const bool ok = r.status == 201 || r.status == 200;
            record("payment", tp, ok);
            if (ok) {
                std::lock_guard lock(mu_);
                acked_.push_back(pending);
                pending.clear();
            }

            if (round % 25 == 24) {
                const auto tl = Clock::now();
                record("login", tl, client.request("POST", "/auth/login", "", creds_).status == 200);
            }
            {
                std::lock_guard lock(mu_);
                counts_.connections += client.connections() - opened;
            }
            opened = client.connections();

            std::unique_lock lock(mu_);
            if (cv_.wait_until(lock, t + 40ms, [&] { return stop_; })) break;
        }
    }

    void record(const char* kind, Clock::time_point t, bool ok) {
        {
            std::lock_guard lock(mu_);
            ++counts_.requests;
            auto& k = counts_.by_kind[kind];
            ++k.first;
            if (!ok) {
                ++counts_.failed;
                ++k.second;
            }
            recent_.emplace_back(t, ok);
            if (recent_.size() > 512) recent_.pop_front();
        }
        cv_.notify_all();
    }

    int port_;
    std::string token_, creds_;
    Clock::time_point end_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    Counts counts_;
    std::deque<std::pair<Clock::time_point, bool>> recent_;  // the last 512 requests: start, ok
    std::vector<std::string> acked_;
    std::vector<std::thread> threads_;
};

// ------------------------------------------------------------ /proc probes

std::size_t fd_count(pid_t pid) {
    std::size_t n = 0;
    std::error_code ec;
    for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
         it.increment(ec))
        ++n;
    return n;
}

long rss_kib(pid_t pid) {
    for (const auto& l : lines_of(read_file("/proc/" + std::to_string(pid) + "/status")))
        if (l.rfind("VmRSS:", 0) == 0) return std::atol(l.c_str() + 6);
    return -1;
}

// Zombies whose parent is vigild or any process below it.
std::vector<pid_t> zombies_below(pid_t root) {
    const auto tree = process_tree(root);
    const std::set<pid_t> in_tree(tree.begin(), tree.end());
    std::vector<pid_t> out;
    for (const auto& p : all_processes())
        if (p.state == 'Z' && in_tree.count(p.ppid)) out.push_back(p.pid);
    return out;
}

// Processes whose command line names the stack's temp dir (postgres -D,
// redis's config, vigil-proxy's config) but that are not below the current
// vigild: what a killed vigild left running and the next one failed to stop.
std::vector<std::string> strays(pid_t root, const std::string& dir) {
    const auto tree = process_tree(root);
    const std::set<pid_t> in_tree(tree.begin(), tree.end());
    std::vector<std::string> out;
    for (const auto& p : all_processes()) {
        if (in_tree.count(p.pid) || p.pid == ::getpid() || p.ppid == ::getpid() || p.state == 'Z') continue;
        std::string cmd = read_file("/proc/" + std::to_string(p.pid) + "/cmdline");
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        if (cmd.find(dir) != std::string::npos) out.push_back(std::to_string(p.pid) + " " + cmd);
    }
    return out;
}

// ------------------------------------------------------------------ faults

enum class Fault { service, postgres_a, postgres_b, redis, proxy, two_services, vigild, host };

const char* name_of(Fault f) {
    switch (f) {
        case Fault::service: return "kill -9 one service instance";
        case Fault::postgres_a: return "kill -9 postgres-a";
        case Fault::postgres_b: return "kill -9 postgres-b";
        case Fault::redis: return "kill -9 redis";
        case Fault::proxy: return "kill -9 vigil-proxy";
        case Fault::two_services: return "kill -9 two service instances";
        case Fault::vigild: return "kill -9 vigild, start it again";
        case Fault::host: return "kill -9 vigild + all, start again";
    }
    return "?";
}

// One round of the schedule: every kind of fault (single instances twice)
// in a seeded random order, so even a short run exercises each kind.
std::vector<Fault> round_of(std::mt19937_64& rng) {
    std::vector<Fault> r{Fault::service,    Fault::service, Fault::postgres_a,   Fault::postgres_b, Fault::redis,
                         Fault::proxy,      Fault::service, Fault::two_services, Fault::vigild,     Fault::host};
    std::shuffle(r.begin(), r.end(), rng);
    return r;
}

const std::vector<std::string> kServices{"service-a-1", "service-a-2", "service-b-1", "service-b-2"};

struct Generation {
    pid_t pid;
    std::vector<std::pair<std::size_t, long>> samples;  // fds, RSS KiB at each quiet point
};

std::optional<pid_t> try_pid_of(const Stack& s, const std::string& name) {
    std::string out;
    if (s.v->ctl({"pid", name}, &out, 10s) != 0) return std::nullopt;
    const pid_t pid = std::atoi(out.c_str());
    return pid > 0 ? std::optional<pid_t>(pid) : std::nullopt;
}

// Waits until vigild has logged "NAME: RUNNING -> …" for every name, at or
// after line `from`: the kill was seen.
bool wait_detected(const Stack& s, const std::vector<std::string>& names, std::size_t from, Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        const std::size_t seen = s.v->line_count();
        bool all = true;
        for (const auto& n : names) all = all && s.v->find_line(n + ": RUNNING -> ", from).has_value();
        if (all) return true;
        const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
        if (left <= 0ms) return false;
        s.v->wait_for_more(seen, std::min<Ms>(left, 1s));
    }
}

// The data stores' own last words (their stderr: PostgreSQL's and Redis'
// log), for a failure that vigild's log alone cannot explain.
std::string data_store_logs(const Stack& s) {
    std::string out;
    for (const auto& name : kPrograms) {
        if (name.rfind("postgres", 0) != 0 && name.rfind("redis", 0) != 0) continue;
        const auto lines = lines_of(read_file(s.v->dir() / ("log/" + name + ".err.log")));
        out += "--- " + name + ".err.log, last lines:\n";
        for (std::size_t i = lines.size() > 15 ? lines.size() - 15 : 0; i < lines.size(); ++i) out += lines[i] + "\n";
    }
    return out;
}

long env_long(const char* name, long fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    return end && *end == '\0' && n > 0 ? n : fallback;
}

}  // namespace

TEST_CASE("chaos: the payment stack under load survives a seeded schedule of kill -9s", "[chaos]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    const std::uint64_t seed = static_cast<std::uint64_t>(
        env_long("VIGIL_CHAOS_SEED", static_cast<long>(std::random_device{}() & 0x7fffffff)));
    const long seconds = std::min(env_long("VIGIL_CHAOS_SECONDS", 60), 7200L);  // bounded: 2 h at most
    std::cout << "chaos: seed " << seed << ", " << seconds
              << " s of faults (replay: VIGIL_CHAOS_SEED=" << seed << " VIGIL_CHAOS_SECONDS=" << seconds
              << " ctest -L chaos)" << std::endl;
    std::mt19937_64 rng(seed);

    Stack s;
    {
        const auto up = s.wait_all_healthy(90s);
        INFO(s.v->log_text());
        REQUIRE(up);
    }
    const std::string dir = s.v->dir().path();

    const std::string user = "chaos_" + std::to_string(::getpid());
    const std::string creds = R"({"username":")" + user + R"(","password":"secret-123"})";
    KeepAliveClient setup(s.internal);
    REQUIRE(setup.request("POST", "/auth/register", "", creds).status == 201);
    const Reply login = setup.request("POST", "/auth/login", "", creds);
    REQUIRE(login.status == 200);
    std::smatch m;
    REQUIRE(std::regex_search(login.body, m, std::regex(R"re("token":"([0-9a-f]{64})")re")));

    const int clients = 2;
    Load load(s.internal, m[1].str(), creds, clients, std::chrono::seconds(seconds) + 10min);
    REQUIRE(load.wait_successes(20, Clock::now(), 30s));  // warmed up

    std::vector<Generation> gens{{s.v->pid(), {}}};
    auto sample = [&] {
        const pid_t pid = s.v->pid();
        if (gens.back().pid != pid) gens.push_back({pid, {}});
        gens.back().samples.emplace_back(fd_count(pid), rss_kib(pid));
    };
    sample();

    struct Tally {
        int injected = 0, survived = 0;
        double worst_recovery = 0;
        std::size_t failed_requests = 0;  // from the fault to the next one
    };
    std::map<Fault, Tally> tally;
    std::vector<std::string> failures;
    std::vector<Fault> deck;
    const auto t_start = Clock::now();
    const auto t_end = t_start + std::chrono::seconds(seconds);

    while (Clock::now() < t_end && failures.empty()) {
        if (deck.empty()) deck = round_of(rng);
        const Fault f = deck.back();
        deck.pop_back();

        const std::size_t from = s.v->line_count();
        const std::size_t failed_before = load.counts().failed;
        const auto t0 = Clock::now();
        std::vector<std::string> killed;  // programs whose exit vigild must report
        bool injected = true;
        switch (f) {
            case Fault::service:
            case Fault::two_services: {
                std::vector<std::string> pool = kServices;
                std::shuffle(pool.begin(), pool.end(), rng);
                pool.resize(f == Fault::service ? 1 : 2);
                std::vector<pid_t> pids;
                for (const auto& n : pool)
                    if (auto p = try_pid_of(s, n)) pids.push_back(*p), killed.push_back(n);
                for (pid_t p : pids) ::kill(p, SIGKILL);
                injected = !pids.empty();
                break;
            }
            case Fault::postgres_a:
            case Fault::postgres_b:
            case Fault::redis:
            case Fault::proxy: {
                const std::string n = f == Fault::postgres_a   ? "postgres-a"
                                      : f == Fault::postgres_b ? "postgres-b"
                                      : f == Fault::redis      ? "redis"
                                                               : "proxy";
                if (auto p = try_pid_of(s, n)) {
                    ::kill(*p, SIGKILL);
                    killed.push_back(n);
                } else {
                    injected = false;
                }
                break;
            }
            case Fault::vigild:
            case Fault::host: {
                // vigild alone: its programs run on, orphaned, and the next
                // vigild must stop them (pid registry) before starting fresh.
                // host: the whole tree at once, as a power cut would.
                const auto tree = f == Fault::host ? process_tree(s.v->pid()) : std::vector<pid_t>{s.v->pid()};
                for (pid_t p : tree) ::kill(p, SIGKILL);
                if (s.v->wait_exit(10s) < 0) {
                    failures.push_back(std::string(name_of(f)) + ": vigild did not exit");
                    break;
                }
                for (pid_t p : tree)
                    if (!wait_gone(p, 10s)) failures.push_back(std::string(name_of(f)) + ": pid " + std::to_string(p) + " survived SIGKILL");
                // start() waits for "vigild … starting" after the log cursor:
                // past the previous generation's line first.
                s.skip_log();
                s.v->start();
                if (!s.v->expect("vigild [0-9.]+ starting", 10s))
                    failures.push_back(std::string(name_of(f)) + ": vigild did not start again");
                break;
            }
        }
        if (!injected) continue;  // (cannot happen at a quiet point; not counted)
        auto& t = tally[f];
        ++t.injected;
        if (!failures.empty()) break;

        std::string what = name_of(f);
        for (const auto& k : killed) what += " " + k;
        if (!killed.empty() && !wait_detected(s, killed, from, 15s)) {
            failures.push_back(what + ": vigild did not notice within 15 s");
            break;
        }
        // A quiet point: every program RUNNING and healthy, the clients
        // served again.
        const auto healthy = s.wait_all_healthy(90s);
        if (!healthy) {
            failures.push_back(what + ": not all RUNNING and healthy within 90 s\n" + data_store_logs(s));
            break;
        }
        if (!load.wait_successes(6, *healthy, 30s)) {
            failures.push_back(what + ": the clients were not served again within 30 s of all healthy");
            break;
        }
        ++t.survived;
        t.worst_recovery = std::max(t.worst_recovery, secs(Clock::now() - t0));
        sample();
        std::cout << "chaos: t+" << std::fixed << std::setprecision(1) << secs(Clock::now() - t_start) << " s  "
                  << what << ": recovered in " << secs(Clock::now() - t0) << " s  (vigild fds "
                  << gens.back().samples.back().first << ", RSS " << gens.back().samples.back().second << " KiB)"
                  << std::endl;

        // A random pause (0.2-2 s) before the next fault: a wait on the
        // load's stop flag with that deadline.
        load.pause(Ms(std::uniform_int_distribution<int>(200, 2000)(rng)));
        t.failed_requests += load.counts().failed - failed_before;
    }
    const double chaos_s = secs(Clock::now() - t_start);

    // Afterwards: all RUNNING and healthy, clients served, then stop the load.
    const auto final_healthy = s.wait_all_healthy(120s);
    const bool served = final_healthy && load.wait_successes(20, *final_healthy, 60s);
    load.stop();
    if (final_healthy) sample();

    // Zombies: one that is still there after vigild has had several chances
    // to reap it (each re-check waits on vigild's log, up to 200 ms).
    std::vector<pid_t> zombies = zombies_below(s.v->pid());
    for (int i = 0; i < 5 && !zombies.empty(); ++i) {
        s.v->wait_for_more(s.v->line_count(), 200ms);
        const auto again = zombies_below(s.v->pid());
        std::vector<pid_t> still;
        for (pid_t z : zombies)
            if (std::find(again.begin(), again.end(), z) != again.end()) still.push_back(z);
        zombies = still;
    }
    const auto stray = strays(s.v->pid(), dir);

    // Every acknowledged payment in postgres-b.
    const auto acked = load.acknowledged();
    const auto stored = s.stored_payment_keys();
    std::size_t lost = 0;
    for (const auto& k : acked)
        if (!stored.count(k)) ++lost;
    const auto counts = load.counts();

    // vigild's fds and RSS, per generation: first quiet point → last.
    const std::size_t fd_bound = 16;
    const long rss_bound_kib = 2048;
    std::vector<std::string> growth;

    // ---------------------------------------------------------------- report
    int injected = 0, survived = 0;
    for (const auto& [f, t] : tally) injected += t.injected, survived += t.survived;
    std::ostringstream r;
    r << std::fixed << std::setprecision(1);
    r << "\nchaos: seed " << seed << ", faults for " << chaos_s << " s (VIGIL_CHAOS_SECONDS=" << seconds << ")\n\n"
      << "| fault | injected | survived | worst recovery | failed requests after it |\n"
      << "| --- | --- | --- | --- | --- |\n";
    for (const auto& [f, t] : tally)
        r << "| " << name_of(f) << " | " << t.injected << " | " << t.survived << " | " << t.worst_recovery
          << " s | " << t.failed_requests << " |\n";
    r << "| **total** | **" << injected << "** | **" << survived << "** | | |\n\n"
      << "| client requests | total | failed |\n| --- | --- | --- |\n";
    for (const auto& [k, c] : counts.by_kind) r << "| " << k << " | " << c.first << " | " << c.second << " |\n";
    r << "| **all** | **" << counts.requests << "** | **" << counts.failed << "** |\n\n"
      << "client connections (keep-alive, " << clients << " clients): " << counts.connections << "\n"
      << "payments acknowledged " << acked.size() << ", stored " << stored.size() << ", lost " << lost << "\n"
      << "zombies below vigild: " << zombies.size() << "; strays outside its tree: " << stray.size() << "\n\n"
      << "| vigild generation | quiet points | fds first → last (max) | RSS KiB first → last (max) |\n"
      << "| --- | --- | --- | --- |\n";
    for (std::size_t g = 0; g < gens.size(); ++g) {
        const auto& x = gens[g].samples;
        if (x.empty()) continue;
        std::size_t fmax = 0;
        long rmax = 0;
        for (const auto& [fd, rss] : x) fmax = std::max(fmax, fd), rmax = std::max(rmax, rss);
        r << "| " << g + 1 << " (pid " << gens[g].pid << ") | " << x.size() << " | " << x.front().first << " → "
          << x.back().first << " (" << fmax << ") | " << x.front().second << " → " << x.back().second << " (" << rmax
          << ") |\n";
        if (x.size() >= 2 && x.back().first > x.front().first + fd_bound)
            growth.push_back("generation " + std::to_string(g + 1) + ": fds " + std::to_string(x.front().first) +
                             " -> " + std::to_string(x.back().first));
        if (x.size() >= 2 && x.back().second > x.front().second + rss_bound_kib)
            growth.push_back("generation " + std::to_string(g + 1) + ": RSS " + std::to_string(x.front().second) +
                             " -> " + std::to_string(x.back().second) + " KiB");
    }
    std::cout << r.str() << std::flush;
    std::error_code ec;
    fs::create_directories(VIGIL_CHAOS_RESULTS_DIR, ec);
    std::ofstream(std::string(VIGIL_CHAOS_RESULTS_DIR) + "/chaos-" + std::to_string(seed) + ".md") << r.str();

    INFO("vigild's log:\n" << s.v->log_text());
    for (const auto& f : failures) FAIL_CHECK(f);
    CHECK(failures.empty());
    CHECK(injected > 0);
    CHECK(survived == injected);
    REQUIRE(final_healthy);
    CHECK(served);
    CHECK(lost == 0);
    for (pid_t z : zombies) FAIL_CHECK("zombie below vigild: pid " << z);
    for (const auto& x : stray) FAIL_CHECK("left running outside vigild's tree: " << x);
    for (const auto& g : growth) FAIL_CHECK("vigild grew: " << g);
}
