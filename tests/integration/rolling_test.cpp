// `vigilctl restart --rolling`: a group of real backends behind a real
// vigil-proxy, restarted one instance at a time under client load with no
// failed request; a roll that meets an instance that never gets healthy
// stops there; and the rewiring latency from vigild's decision to the
// proxy's pool change.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "http_client.hpp"

using namespace vigil::test;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

std::string backend_cmd(const std::string& name, int port) {
    return std::string(VIGIL_PROXY_BACKEND_PATH) + " --port " + std::to_string(port) + " --name " + name;
}

// A pool member checked over TCP every 100 ms. `command` overrides the
// plain backend (the failing-instance test).
std::string backend(const std::string& name, int port, const std::string& command = "",
                    const std::string& healthcheck = "") {
    const std::string p = std::to_string(port);
    return "[program:" + name + "]\ncommand = " + (command.empty() ? backend_cmd(name, port) : command) +
           "\naddress = 127.0.0.1:" + p + "\nstartsecs = 0\nstopwaitsecs = 5\nhealthcheck = " +
           (healthcheck.empty() ? "tcp://127.0.0.1:" + p : healthcheck) +
           "\nhealth_interval = 100ms\nhealth_timeout = 1s\nhealth_retries = 1\n\n";
}

std::string proxy_sections(int listen) {
    return "[group:web]\nprograms = b1,b2\n\n[upstream:pool]\nservers = b1 b2\nmax_fails = 3\nfail_timeout = 30s\n\n"
           "[proxy:main]\nlisten = 127.0.0.1:" + std::to_string(listen) +
           "\nroute = / pool\n\n[program:proxy]\nkind = proxy\nstartsecs = 0\ncommand = " VIGIL_BUILD_DIR
           "/proxy/vigil-proxy -c %(here)s/vigil.ini --admin %(here)s/state/proxy.sock --workers 2 --access-log off\n";
}

// One GET on vigil-proxy's admin socket, straight (not through vigild).
json admin_get(const std::string& socket, const std::string& path) {
    const std::string raw =
        raw_exchange(socket, "GET " + path + " HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n", 2s);
    const auto body = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos) return json();
    return json::parse(raw.substr(body + 4), nullptr, false);
}

std::string server_state(const std::string& admin, const std::string& server) {
    const json j = admin_get(admin, "/v1/pools/pool/servers/" + server);
    return j.is_object() && j.contains("state") ? j["state"].get<std::string>() : "unreachable";
}

bool state_becomes(const std::string& admin, const std::string& server, const std::string& want, Ms timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    std::string last;
    while (Clock::now() < deadline)
        if ((last = server_state(admin, server)) == want) return true;
    UNSCOPED_INFO(server << " stayed " << last << ", wanted " << want);
    return false;
}

// The state through vigild (`vigilctl upstreams`): its GET queues behind
// every push vigild made before, so "up" here is vigild's "up", not the
// proxy's start-up state from the INI that a push is about to replace.
bool settled(const Vigild& v, const std::string& server, const std::string& want, Ms timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    std::string last;
    while (Clock::now() < deadline) {
        std::string out;
        if (v.ctl({"upstreams", "--json"}, &out) != 0) continue;
        const json j = json::parse(out, nullptr, false);  // kept alive for the loops below
        if (!j.is_object()) continue;
        for (const auto& pool : j["pools"])
            for (const auto& srv : pool["servers"])
                if (srv["name"] == server) last = srv["state"];
        if (last == want) return true;
    }
    UNSCOPED_INFO(server << " stayed " << last << " at vigild, wanted " << want);
    return false;
}

pid_t pid_of(const Vigild& v, const std::string& name) {
    std::string out;
    if (v.ctl({"pid", name}, &out) != 0) return 0;
    return static_cast<pid_t>(std::stol(out));
}

// Requests through the proxy on one kept-alive connection (KeepAliveClient,
// a new one only when the server closed it), one at a time, a GET and a POST
// with a 1 KB JSON body in turn, until stopped or until the hard caps (time,
// count) end it. A failure is anything but a whole 2xx response to a request
// whose body the backend received whole (its X-Body-Bytes): another status,
// a refused or reset connection, a timeout, a response cut short or followed
// by bytes nobody asked for.
class Load {
public:
    Load(int port, std::string path) : port_(port), path_(std::move(path)) {}
    ~Load() { stop(); }

    void start() {
        thread_ = std::thread([this] { loop(); });
    }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    bool wait_ok(long n, Ms timeout) const {
        const auto deadline = Clock::now() + timeout;
        while (ok_ < n && Clock::now() < deadline) {
            // Woken by every response that came back whole.
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, 50ms);
        }
        return ok_ >= n;
    }
    long sent() const { return sent_; }
    long ok() const { return ok_; }
    long failed() const { return failed_; }
    long posts() const { return posts_; }
    long connections() const { return connections_; }
    std::string failures() const {
        std::lock_guard lock(mu_);
        return failures_;
    }

private:
    static constexpr auto kMaxDuration = 60s;
    static constexpr long kMaxRequests = 200000;

    void note_failure(const std::string& why) {
        ++failed_;
        std::lock_guard lock(mu_);
        if (failures_.size() < 2000) failures_ += why + "\n";
    }

    // The failure of `r`, or "" when it is a whole 2xx for a body of `sent` bytes.
    static std::string failure(const Reply& r, std::size_t sent) {
        if (r.status == 0) return r.error;
        if (r.status < 200 || r.status > 299) return r.head.substr(0, r.head.find("\r\n"));
        const std::string want = "\r\nX-Body-Bytes: " + std::to_string(sent) + "\r\n";
        if (r.head.find(want) == std::string::npos) return "the backend did not get " + std::to_string(sent) +
                                                           " body bytes: " + r.head;
        return "";
    }

    void loop() {
        const auto end = Clock::now() + kMaxDuration;
        // JSON, as a payment API's: a body mistaken for the next request's
        // head (issue 13) is then a 400, not a valid-looking method token.
        const std::string body = R"({"amount_cents":1250,"pad":")" + std::string(990, 'p') + R"("})";
        KeepAliveClient client(port_);
        while (!stop_ && sent_ < kMaxRequests && Clock::now() < end) {
            const bool post = sent_ % 2 == 1;
            ++sent_;
            posts_ += post;
            const Reply r = post ? client.request("POST", path_, "", body) : client.request("GET", path_);
            connections_ = static_cast<long>(client.connections());
            const std::string why = failure(r, post ? body.size() : 0);
            if (why.empty()) {
                ++ok_;
                cv_.notify_all();
            } else {
                note_failure((post ? "POST: " : "GET: ") + why);
            }
        }
    }

    int port_;
    std::string path_;
    std::atomic<bool> stop_{false};
    std::atomic<long> sent_{0}, ok_{0}, failed_{0}, posts_{0}, connections_{0};
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::string failures_;
    std::thread thread_;
};

std::optional<std::size_t> line_index(const std::vector<std::string>& lines, const std::string& re,
                                      std::size_t from = 0) {
    const std::regex pattern(re);
    for (std::size_t i = from; i < lines.size(); ++i)
        if (std::regex_search(lines[i], pattern)) return i;
    return std::nullopt;
}

std::size_t count_between(const std::vector<std::string>& lines, const std::string& re, std::size_t from,
                          std::size_t to) {
    const std::regex pattern(re);
    std::size_t n = 0;
    for (std::size_t i = from; i < to && i < lines.size(); ++i) n += std::regex_search(lines[i], pattern);
    return n;
}

}  // namespace

TEST_CASE("rolling restart: a group behind vigil-proxy under load, new pids, no failed request", "[rolling]") {
    const int p1 = free_port(), p2 = free_port(), listen = free_port();
    Vigild v(backend("b1", p1) + backend("b2", p2) + proxy_sections(listen));
    v.start();
    const std::string admin = v.dir() / "state/proxy.sock";
    REQUIRE(v.expect("b1: up in pool pool"));
    REQUIRE((v.find_line("b2: up in pool pool") || v.expect("b2: up in pool pool")));
    REQUIRE(settled(v, "b1", "up"));
    REQUIRE(settled(v, "b2", "up"));
    const pid_t old1 = pid_of(v, "b1"), old2 = pid_of(v, "b2");
    REQUIRE(old1 > 0);
    REQUIRE(old2 > 0);

    // Fast requests and slow ones (in flight when a drain begins), GETs and
    // POSTs with bodies, each load on one connection kept alive across the
    // whole roll.
    Load fast(listen, "/x"), slow(listen, "/slow/150");
    fast.start();
    slow.start();
    REQUIRE(fast.wait_ok(50, 10s));
    REQUIRE(slow.wait_ok(2, 10s));

    const std::size_t log_from = v.line_count();
    std::string out;
    const long sent0 = fast.sent() + slow.sent(), failed0 = fast.failed() + slow.failed();
    const auto t0 = Clock::now();
    const int rc = v.ctl({"restart", "--rolling", "web", "--timeout", "20"}, &out, 90s);
    const auto took = std::chrono::duration<double>(Clock::now() - t0).count();
    const long during = fast.sent() + slow.sent() - sent0, failed_during = fast.failed() + slow.failed() - failed0;
    // Some traffic after the roll too: both new instances serve.
    const long after = fast.ok() + 50;
    CHECK(fast.wait_ok(after, 10s));
    fast.stop();
    slow.stop();
    INFO(out);
    INFO("fast failures:\n" << fast.failures() << "slow failures:\n" << slow.failures());
    CHECK(rc == 0);

    std::cout << "rolling restart of 2 instances under load: " << took << " s, " << during << " requests during it, "
              << failed_during << " failed; in all, fast /x: " << fast.sent() << " requests (" << fast.posts()
              << " POSTs), " << fast.failed() << " failed, " << fast.connections()
              << " connection(s); slow /slow/150: " << slow.sent() << " requests (" << slow.posts() << " POSTs), "
              << slow.failed() << " failed, " << slow.connections() << " connection(s)\n"
              << out << std::flush;
    CHECK(fast.failed() == 0);
    CHECK(slow.failed() == 0);
    CHECK(fast.sent() > 100);
    CHECK(fast.sent() == fast.ok());  // every request sent came back whole and 2xx
    CHECK(slow.sent() == slow.ok());
    CHECK(fast.posts() > 50);
    // The proxy kept each client's connection through the whole roll.
    CHECK(fast.connections() == 1);
    CHECK(slow.connections() == 1);

    const pid_t new1 = pid_of(v, "b1"), new2 = pid_of(v, "b2");
    CHECK(new1 > 0);
    CHECK(new2 > 0);
    CHECK(new1 != old1);
    CHECK(new2 != old2);
    CHECK(wait_gone(old1, 1s));
    CHECK(wait_gone(old2, 1s));

    // One instance at a time, each through every step, in order.
    const auto lines = lines_of(out);
    std::size_t at = 0;
    for (const std::string name : {"b1", "b2"})
        for (const std::string step : {"draining", "drained", "stopped", "started", "healthy", "up"}) {
            auto i = line_index(lines, "^" + name + ": " + step + " \\(", at);
            CHECK(i);
            if (i) at = *i;
        }
    CHECK(out.find("rolling restart of web: 2 restarted") != std::string::npos);
    CHECK(state_becomes(admin, "b1", "up"));
    CHECK(state_becomes(admin, "b2", "up"));

    // While held, vigild's own health decisions did not put the instance
    // back: its new process turned healthy, yet the only "up" pushed came
    // from the roll, after it said healthy.
    const auto log = v.log();
    for (const std::string name : {"b1", "b2"}) {
        INFO(name);
        const auto draining = line_index(log, "rolling restart of web: " + name + ": draining", log_from);
        const auto healthy = line_index(log, name + ": health starting -> healthy", draining.value_or(0));
        const auto back = line_index(log, "rolling restart of web: " + name + ": up:", draining.value_or(0));
        REQUIRE(draining);
        REQUIRE(healthy);
        REQUIRE(back);
        CHECK(*healthy < *back);
        CHECK(count_between(log, name + ": up in pool pool", *draining, *back) == 1);
        CHECK(!line_index(log, name + ": down in pool pool", *draining).has_value());
    }
}

TEST_CASE("rolling restart: an instance that never gets healthy stops the roll, the rest untouched", "[rolling]") {
    const int p1 = free_port(), p2 = free_port(), elsewhere = free_port(), listen = free_port();
    TempDir flags;
    const std::string flag = flags / "broken";
    // Once the flag exists, b1 comes back listening on the wrong port: it
    // runs, but its health check never passes.
    const std::string script = flags / "b1.sh";
    write_file(script, "[ -e " + flag + " ] && exec " + backend_cmd("b1", elsewhere) + "\nexec " +
                           backend_cmd("b1", p1) + "\n");
    Vigild v(backend("b1", p1, "/bin/sh " + script) + backend("b2", p2) + proxy_sections(listen));
    v.start();
    const std::string admin = v.dir() / "state/proxy.sock";
    REQUIRE(v.expect("b1: up in pool pool"));
    REQUIRE((v.find_line("b2: up in pool pool") || v.expect("b2: up in pool pool")));
    REQUIRE(settled(v, "b1", "up"));
    REQUIRE(settled(v, "b2", "up"));
    const pid_t old1 = pid_of(v, "b1"), old2 = pid_of(v, "b2");
    REQUIRE(old1 > 0);
    REQUIRE(old2 > 0);
    write_file(flag, "");

    std::string out, second;
    int rc = -1;
    std::thread roll([&] { rc = v.ctl({"restart", "--rolling", "web:*", "--timeout", "2"}, &out, 60s); });
    // While it waits on b1, a second roll over the same instances is refused.
    const bool waiting = v.expect("rolling restart of web:\\*: b1: started").has_value();
    const int rc2 = v.ctl({"restart", "--rolling", "web"}, &second);
    roll.join();
    INFO(out);
    INFO(second);
    CHECK(waiting);
    CHECK(rc2 == 1);
    CHECK(second.find("web: ERROR (b1 is already in a rolling restart)") != std::string::npos);
    CHECK(rc == 1);
    CHECK(out.find("b1: ERROR (not healthy within 2s)") != std::string::npos);
    CHECK(out.find("rolling restart of web:* stopped: b1: not healthy within 2s; 1 left untouched") !=
          std::string::npos);
    CHECK(out.find("b2: draining") == std::string::npos);

    // b1 was restarted (and runs, unhealthy); b2 kept its process and its place.
    const pid_t new1 = pid_of(v, "b1");
    CHECK(new1 > 0);
    CHECK(new1 != old1);
    CHECK(pid_of(v, "b2") == old2);
    CHECK(state_becomes(admin, "b2", "up"));
    // Released from the drain, b1 is what vigild's health says: down.
    CHECK(state_becomes(admin, "b1", "down"));

    // The roll is over: the same group may be rolled again (and fails the same way).
    CHECK(v.ctl({"restart", "--rolling", "web", "--timeout", "1"}, &out, 60s) == 1);
}

TEST_CASE("rolling restart: unknown names and bad usage", "[rolling]") {
    Vigild v("[program:solo]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("solo: STARTING -> RUNNING"));
    std::string out;
    CHECK(v.ctl({"restart", "--rolling", "nosuch"}, &out) == 2);
    CHECK(out.find("nosuch: ERROR (no such process or group: nosuch)") != std::string::npos);
    CHECK(v.ctl({"restart", "--rolling", "nosuch:*"}, &out) == 2);
    CHECK(v.ctl({"restart", "--rolling"}, &out) == 2);
    CHECK(out.find("usage: restart --rolling GROUP") != std::string::npos);
    CHECK(v.ctl({"restart", "--rolling", "solo", "--timeout", "soon"}, &out) == 2);

    // No proxy, no healthcheck: restarted and waited on until RUNNING.
    const pid_t old = pid_of(v, "solo");
    CHECK(v.ctl({"restart", "--rolling", "solo"}, &out) == 0);
    INFO(out);
    CHECK(out.find("solo: started (pid ") != std::string::npos);
    CHECK(out.find("draining") == std::string::npos);
    CHECK(pid_of(v, "solo") != old);

    // vigild gone: exit 4.
    REQUIRE(v.terminate() == 0);
    CHECK(v.ctl({"restart", "--rolling", "solo"}, &out) == 4);
}

// From vigild's decision (the time stamp of its event) to the proxy's pool
// answering with the new state, polled straight on the admin socket. Four
// kinds of decision (unhealthy, healthy again, stopped, started and healthy),
// each measured five times; the median of each must be under 50 ms (one
// sample on a machine busy with other work can lose a time slice), and
// every figure is printed.
TEST_CASE("rolling restart: rewiring latency from vigild's decision to the proxy's pool is under 50 ms", "[rolling]") {
    const int p1 = free_port(), p2 = free_port(), listen = free_port();
    TempDir flags;
    const std::string flag = flags / "fail";
    Vigild v(backend("b1", p1) + backend("b2", p2, "", "exec:test ! -e " + flag) + proxy_sections(listen));
    v.start();
    const std::string admin = v.dir() / "state/proxy.sock";
    REQUIRE(v.expect("b1: up in pool pool"));
    REQUIRE((v.find_line("b2: up in pool pool") || v.expect("b2: up in pool pool")));
    REQUIRE(settled(v, "b1", "up"));
    REQUIRE(settled(v, "b2", "up"));

    // One measurement: subscribe to vigild's events, act, wait for vigild's
    // push (its log line; no polling before the decision), poll the proxy
    // until `server` is `want`, then take the time of the event holding
    // `needle` (keys come sorted, so …,"to":X,"type":Y is contiguous).
    auto measure = [&](const std::string& server, const std::string& want, const std::string& needle,
                       const std::function<void()>& act) -> std::optional<double> {
        SocketClient events(v.socket_path());
        events.send("GET /v1/events HTTP/1.1\r\nHost: vigil\r\n\r\n");
        if (!events.read_until("\r\n\r\n")) return std::nullopt;
        act();
        if (!v.expect(server + ": " + want + " in pool pool")) return std::nullopt;
        std::optional<double> seen;
        const auto deadline = Clock::now() + 5s;
        while (!seen && Clock::now() < deadline)
            if (server_state(admin, server) == want)
                seen = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        if (!seen || !events.read_until(needle, 5s)) return std::nullopt;
        const std::string& all = events.received();
        const auto at = all.find(needle);
        const auto start = all.rfind("\n{", at), end = all.find('\n', at);
        const auto ev = json::parse(all.substr(start + 1, end - start - 1), nullptr, false);
        if (!ev.is_object() || ev.value("name", "") != server) return std::nullopt;
        return (*seen - ev["time"].get<double>()) * 1000;
    };

    std::map<std::string, std::vector<double>> ms;
    std::string out;
    for (int round = 0; round < 5; ++round) {
        const auto unhealthy = measure("b2", "down", R"("to":"unhealthy","type":"health")",
                                       [&] { write_file(flag, ""); });
        const auto healthy = measure("b2", "up", R"("to":"healthy","type":"health")",
                                     [&] { std::filesystem::remove(flag); });
        std::thread stopper;
        const auto stopped = measure("b1", "down", R"("to":"STOPPING","type":"state")",
                                     [&] { stopper = std::thread([&] { v.ctl({"stop", "b1"}, &out); }); });
        stopper.join();
        const auto started = measure("b1", "up", R"("to":"healthy","type":"health")",
                                     [&] { REQUIRE(v.ctl({"start", "b1"}, &out) == 0); });
        REQUIRE(unhealthy);
        REQUIRE(healthy);
        REQUIRE(stopped);
        REQUIRE(started);
        ms["unhealthy -> down"].push_back(*unhealthy);
        ms["healthy -> up"].push_back(*healthy);
        ms["stopped -> down"].push_back(*stopped);
        ms["started, healthy -> up"].push_back(*started);
    }

    std::ostringstream report;
    report << "rewiring latency, vigild's decision -> proxy pool changed (ms):";
    for (auto& [what, samples] : ms) {
        report << "\n  " << what << ":";
        for (double x : samples) report << " " << x;
        std::sort(samples.begin(), samples.end());
        report << "  (median " << samples[samples.size() / 2] << ", max " << samples.back() << ")";
    }
    std::cout << report.str() << "\n" << std::flush;
    WARN(report.str());
    for (const auto& [what, samples] : ms) {
        INFO(what);
        CHECK(samples[samples.size() / 2] < 50);
        CHECK(samples.front() > -5);  // same clock: a negative figure would mean the wrong event
    }
}
