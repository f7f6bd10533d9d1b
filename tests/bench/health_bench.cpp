// The health engine at scale (issue 4): 1,000 checks, each probed every
// second, TCP and HTTP mixed, on one io_context as in vigild. Prints the
// CPU the probing process used (getrusage, user + system) and the probe
// latency percentiles. Target: under 5 % of one core.
//
// The servers run in a forked child so that their CPU is not counted: the
// figure is the prober's alone, as vigild's would be.
//
//   health_bench [--checks N] [--seconds S] [--interval-ms MS] [--warmup S]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "supervisor/health/health_monitor.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr int kListeners = 4;  // of each kind

struct Args {
    int checks = 1000;
    int seconds = 20;
    int interval_ms = 1000;
    int warmup = 3;
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const int v = std::atoi(argv[i + 1]);
        if (k == "--checks") a.checks = v;
        else if (k == "--seconds") a.seconds = v;
        else if (k == "--interval-ms") a.interval_ms = v;
        else if (k == "--warmup") a.warmup = v;
        else {
            std::fprintf(stderr, "usage: health_bench [--checks N] [--seconds S] [--interval-ms MS] [--warmup S]\n");
            std::exit(2);
        }
    }
    return a;
}

// --- the server process -----------------------------------------------------

void http_session(std::shared_ptr<tcp::socket> s) {
    auto buf = std::make_shared<std::string>();
    asio::async_read_until(*s, asio::dynamic_buffer(*buf, 8192), "\r\n\r\n",
                           [s, buf](const boost::system::error_code& ec, std::size_t) {
                               if (ec) return;
                               static const std::string resp =
                                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                                   "Connection: close\r\n\r\nok";
                               asio::async_write(*s, asio::buffer(resp),
                                                 [s](const boost::system::error_code&, std::size_t) {});
                           });
}

void accept_loop(tcp::acceptor& a, bool http) {
    a.async_accept([&a, http](const boost::system::error_code& ec, tcp::socket sock) {
        if (!ec && http) http_session(std::make_shared<tcp::socket>(std::move(sock)));
        // TCP listeners just accept and let the socket close.
        accept_loop(a, http);
    });
}

// Forks the servers; returns their pid and writes the ports (HTTP first).
pid_t start_servers(std::vector<std::uint16_t>& ports) {
    int fds[2];
    if (::pipe(fds) < 0) std::exit(1);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        asio::io_context io;
        std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
        std::vector<std::uint16_t> mine;
        for (int i = 0; i < 2 * kListeners; ++i) {
            auto a = std::make_unique<tcp::acceptor>(io);
            a->open(tcp::v4());
            a->set_option(tcp::acceptor::reuse_address(true));
            a->bind({asio::ip::make_address("127.0.0.1"), 0});
            a->listen(4096);
            mine.push_back(a->local_endpoint().port());
            accept_loop(*a, i < kListeners);
            acceptors.push_back(std::move(a));
        }
        [[maybe_unused]] auto n = ::write(fds[1], mine.data(), mine.size() * sizeof(std::uint16_t));
        ::close(fds[1]);
        io.run();
        ::_exit(0);
    }
    ::close(fds[1]);
    ports.resize(2 * kListeners);
    const auto want = static_cast<ssize_t>(ports.size() * sizeof(std::uint16_t));
    if (::read(fds[0], ports.data(), static_cast<std::size_t>(want)) != want) {
        std::fprintf(stderr, "servers did not start\n");
        std::exit(1);
    }
    ::close(fds[0]);
    return pid;
}

// --- the prober ---------------------------------------------------------------

struct Cpu {
    double user = 0, system = 0;
    double total() const { return user + system; }
};

Cpu cpu_now() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return {secs(ru.ru_utime), secs(ru.ru_stime)};
}

struct Samples {
    std::vector<long> latency_us;
    long passed = 0, failed = 0;

    void print(const char* what) {
        if (latency_us.empty()) {
            std::printf("  %-5s no samples\n", what);
            return;
        }
        std::sort(latency_us.begin(), latency_us.end());
        auto pct = [&](double p) {
            return latency_us[std::min(latency_us.size() - 1, static_cast<std::size_t>(p * latency_us.size()))];
        };
        std::printf("  %-5s %7zu checks (%ld failed)  latency p50 %5ld us  p90 %5ld us  p99 %6ld us  max %6ld us\n",
                    what, latency_us.size(), failed, pct(0.50), pct(0.90), pct(0.99), latency_us.back());
    }
};

// What the kernel alone charges for one check of each kind: blocking
// connect, (HTTP: request and response), reset, in a tight loop against the
// same servers. The floor under any prober on this machine.
struct Floor {
    double tcp_us = 0, http_us = 0;
};

Floor measure_floor(const std::vector<std::uint16_t>& ports, int n) {
    auto one = [&](std::uint16_t port, bool http) {
        const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && http) {
            static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            [[maybe_unused]] auto w = ::write(s, req, sizeof req - 1);
            char buf[512];
            while (::read(s, buf, sizeof buf) > 0) {
            }
        }
        const linger lg{1, 0};
        ::setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(s);
    };
    Floor f;
    for (bool http : {false, true}) {
        const Cpu c0 = cpu_now();
        for (int i = 0; i < n; ++i) one(ports[static_cast<std::size_t>((http ? 0 : kListeners) + i % kListeners)], http);
        const Cpu c1 = cpu_now();
        (http ? f.http_us : f.tcp_us) = 1e6 * (c1.total() - c0.total()) / n;
    }
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse(argc, argv);
    std::vector<std::uint16_t> ports;
    const pid_t servers = start_servers(ports);

    const Floor floor = measure_floor(ports, 3000);

    // As vigild's own loop (vigild_main.cpp): one thread runs it.
    asio::io_context io(1);
    bool measuring = false;
    Samples http, tcp_samples;
    std::vector<std::shared_ptr<vigil::health::HealthMonitor>> monitors;
    monitors.reserve(static_cast<std::size_t>(args.checks));
    for (int i = 0; i < args.checks; ++i) {
        const bool is_http = i % 2 == 0;
        vigil::config::HealthCheck hc;
        hc.kind = is_http ? vigil::config::HealthKind::http : vigil::config::HealthKind::tcp;
        hc.host = "127.0.0.1";
        hc.port = ports[static_cast<std::size_t>((is_http ? 0 : kListeners) + (i / 2) % kListeners)];
        hc.path = is_http ? "/health" : "";
        hc.interval = std::chrono::milliseconds(args.interval_ms);
        hc.timeout = 2000ms;
        vigil::health::HealthMonitor::Options opts;
        opts.seed = static_cast<std::uint64_t>(i) + 1;
        opts.history = 10;
        auto m = vigil::health::HealthMonitor::create(io, "check-" + std::to_string(i), hc, nullptr, opts);
        Samples* s = is_http ? &http : &tcp_samples;
        m->set_on_result([s, &measuring](const vigil::health::HealthRecord& r) {
            if (!measuring) return;
            s->latency_us.push_back(static_cast<long>(r.latency.count()));
            (r.ok ? s->passed : s->failed)++;
        });
        monitors.push_back(std::move(m));
    }
    for (auto& m : monitors) m->start();

    // The loop runs as vigild runs it, with io.run() (run_for would read the
    // clock around every handler); a timer opens and closes the window.
    Cpu cpu0{};
    auto wall0 = std::chrono::steady_clock::now();
    asio::steady_timer window(io, std::chrono::seconds(args.warmup));
    window.async_wait([&](const boost::system::error_code&) {
        measuring = true;
        cpu0 = cpu_now();
        wall0 = std::chrono::steady_clock::now();
        window.expires_after(std::chrono::seconds(args.seconds));
        window.async_wait([&](const boost::system::error_code&) { io.stop(); });
    });
    io.run();
    const Cpu cpu1 = cpu_now();
    const double cpu = cpu1.total() - cpu0.total();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    measuring = false;

    for (auto& m : monitors) m->stop();
    ::kill(servers, SIGTERM);
    ::waitpid(servers, nullptr, 0);

    const double checks = static_cast<double>(http.latency_us.size() + tcp_samples.latency_us.size());
    std::printf("health_bench: %d checks (HTTP and TCP, half each), interval %d ms, measured %.1f s after %d s warm-up\n",
                args.checks, args.interval_ms, wall, args.warmup);
    std::printf("  probes run: %.0f (%.0f per second)\n", checks, checks / wall);
    std::printf("  CPU of the probing process: %.3f s in %.1f s = %.2f %% of one core (%.1f us per check;"
                " user %.3f s, system %.3f s)\n",
                cpu, wall, 100.0 * cpu / wall, checks > 0 ? 1e6 * cpu / checks : 0.0, cpu1.user - cpu0.user,
                cpu1.system - cpu0.system);
    http.print("HTTP");
    tcp_samples.print("TCP");
    const double floor_pct = (floor.http_us * static_cast<double>(http.latency_us.size()) +
                              floor.tcp_us * static_cast<double>(tcp_samples.latency_us.size())) /
                             1e4 / wall;
    std::printf("  kernel floor on this machine (blocking connect/request/reset loop): TCP %.1f us, HTTP %.1f us"
                " per check = %.2f %% of one core at this rate\n",
                floor.tcp_us, floor.http_us, floor_pct);
    return http.failed + tcp_samples.failed == 0 ? 0 : 1;
}
