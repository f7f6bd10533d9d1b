// vigil-proxy: loads the vigild INI with the shared loader, serves every
// [proxy:*] listener from N worker event loops, and takes pool changes on a
// Unix admin socket. The main thread owns the Registry, the admin server and
// the signals; it talks to workers only by posting to their io_contexts.
//
//   SIGHUP           reload every listener's certificate and key (new
//                    connections get the new context; none is dropped)
//   SIGTERM, SIGINT  stop accepting, let in-flight requests finish with
//                    Connection: close, give idle keep-alive connections
//                    --drain-idle to send one last request, then exit
//                    (remaining connections are cut after --grace)
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "config/loader.hpp"
#include "config/units.hpp"
#include "proxy/admin_server.hpp"
#include "proxy/inherited_sockets.hpp"
#include "proxy/tls.hpp"
#include "proxy/worker.hpp"
#include "supervisor/sd_notify.hpp"

namespace {

using namespace vigil;
using namespace vigil::proxy;

constexpr const char* usage =
    "usage: vigil-proxy -c VIGIL_INI [options]\n"
    "       vigil-proxy --gen-cert CERT KEY\n"
    "options:\n"
    "  --admin SOCKET          admin API socket (default <state_dir>/proxy.sock)\n"
    "  --workers N             event loops (default: one per core)\n"
    "  --access-log PATH|-|off access log file, stdout (default) or none\n"
    "  --client-timeout D      idle keep-alive / request read timeout, 408 (default 60s)\n"
    "  --upstream-timeout D    upstream response timeout, 504 (default 60s)\n"
    "  --connect-timeout D     upstream connect timeout, then next server (default 5s);\n"
    "                          for mode = tcp listeners also the wait for a usable server\n"
    "  --max-header SIZE       request head limit, 431 (default 16K)\n"
    "  --max-body SIZE         request body limit, 413 (default 64M, 0 = none)\n"
    "  --idle-per-server N     idle upstream connections per server per worker (default 64)\n"
    "  --grace D               graceful stop deadline (default 10s)\n"
    "  --drain-idle D          graceful stop: idle keep-alive connections may send one\n"
    "                          more request for this long, then close (default 1s)\n"
    "  --check                 validate the config and exit\n";

struct Args {
    std::string config, admin;
    ProxyOptions opts;
    std::string access_log = "-";
    std::chrono::milliseconds grace{10000};
    bool check = false;
};

[[noreturn]] void die_usage(const std::string& msg) {
    std::cerr << "vigil-proxy: " << msg << "\n" << usage;
    std::exit(2);
}

Args parse_args(int argc, char** argv) {
    Args a;
    auto need = [&](int& i) -> std::string {
        if (i + 1 >= argc) die_usage(std::string(argv[i]) + " needs a value");
        return argv[++i];
    };
    auto duration = [&](int& i) {
        std::string flag = argv[i];
        auto d = config::parse_duration(need(i));
        if (!d) die_usage("bad duration for " + flag);
        return std::chrono::milliseconds(*d);
    };
    auto size = [&](int& i) {
        std::string flag = argv[i];
        auto s = config::parse_size(need(i));
        if (!s) die_usage("bad size for " + flag);
        return *s;
    };
    for (int i = 1; i < argc; ++i) {
        std::string_view f = argv[i];
        if (f == "-c" || f == "--config") a.config = need(i);
        else if (f == "--admin") a.admin = need(i);
        else if (f == "--workers") a.opts.workers = static_cast<std::size_t>(std::stoul(need(i)));
        else if (f == "--access-log") a.access_log = need(i);
        else if (f == "--client-timeout") a.opts.client_timeout = duration(i);
        else if (f == "--upstream-timeout") a.opts.upstream_timeout = duration(i);
        else if (f == "--connect-timeout") a.opts.connect_timeout = duration(i);
        else if (f == "--max-header") a.opts.max_header = static_cast<std::size_t>(size(i));
        else if (f == "--max-body") a.opts.max_body = size(i);
        else if (f == "--idle-per-server") a.opts.idle_per_server = static_cast<std::size_t>(std::stoul(need(i)));
        else if (f == "--grace") a.grace = duration(i);
        else if (f == "--drain-idle") a.opts.drain_idle = duration(i);
        else if (f == "--check") a.check = true;
        else if (f == "-h" || f == "--help") { std::cout << usage; std::exit(0); }
        else die_usage("unknown argument '" + std::string(f) + "'");
    }
    if (a.config.empty()) die_usage("-c VIGIL_INI is required");
    if (a.opts.max_header < 256) die_usage("--max-header must be at least 256");
    return a;
}

int run(const Args& args) {
    const std::vector<InheritedSocket> inherited = take_inherited_sockets();
    config::LoadOptions lo;
    lo.env = config::environment_map();
    auto loaded = config::load_file(args.config, lo);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        return 2;
    }
    const config::Config& cfg = *loaded.config;
    std::vector<std::string> errors;
    auto registry = Registry::from_config(cfg, errors);
    if (!registry) {
        for (const auto& e : errors) std::cerr << e << "\n";
        return 2;
    }

    // Listener-wide shared state: stats, limiters, TLS contexts.
    std::vector<std::unique_ptr<ListenerStats>> stats;
    std::vector<std::unique_ptr<RateLimiter>> limiters;
    std::vector<ListenerShared> shared;
    std::vector<std::shared_ptr<boost::asio::ssl::context>> tls;
    for (const ListenerSpec& l : registry->listeners()) {
        stats.push_back(std::make_unique<ListenerStats>());
        stats.back()->name = l.name;
        stats.back()->tcp = l.tcp;
        ListenerShared ls{l, stats.back().get(), nullptr};
        ls.inherited_fd = find_inherited(inherited, l.host, l.port);
        if (l.rate_limit_per_min) {
            limiters.push_back(std::make_unique<RateLimiter>(*l.rate_limit_per_min));
            ls.limiter = limiters.back().get();
        }
        shared.push_back(ls);
        if (l.tls()) {
            std::string err;
            auto ctx = make_server_context(l.tls_cert, l.tls_key, err);
            if (!ctx) {
                std::cerr << "[proxy:" << l.name << "] TLS: " << err << "\n";
                return 2;
            }
            tls.push_back(std::move(ctx));
        } else {
            tls.push_back(nullptr);
        }
    }
    if (args.check) {
        std::cout << "config ok: " << shared.size() << " listener(s), " << registry->snapshot()->pools.size()
                  << " pool(s)\n";
        return 0;
    }

    ProxyOptions opts = args.opts;
    if (args.access_log == "off") {
        opts.access_log_fd = -1;
    } else if (args.access_log != "-") {
        opts.access_log_fd = ::open(args.access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (opts.access_log_fd < 0) {
            std::cerr << "vigil-proxy: cannot open access log " << args.access_log << ": " << std::strerror(errno) << "\n";
            return 1;
        }
    }
    std::size_t n = opts.workers ? opts.workers : std::max(1u, std::thread::hardware_concurrency());
    // Two descriptors per proxied connection: take all the kernel allows.
    rlimit nofile{};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &nofile);
    }

    std::vector<std::unique_ptr<Worker>> workers;
    try {
        for (std::size_t i = 0; i < n; ++i) {
            workers.push_back(std::make_unique<Worker>(static_cast<int>(i), opts, shared, registry->snapshot(), tls));
            workers.back()->open_listeners();
        }
    } catch (const std::exception& e) {
        std::cerr << "vigil-proxy: cannot listen: " << e.what() << "\n";
        return 1;
    }

    boost::asio::io_context io(1);
    const std::string admin_path = args.admin.empty() ? cfg.daemon.state_dir + "/proxy.sock" : args.admin;
    auto publish = [&](std::shared_ptr<const Snapshot> snap) {
        for (auto& w : workers) w->post_snapshot(snap);
    };
    AdminServer admin(io, admin_path, [&](std::string_view method, std::string_view target, std::string_view body) {
        AdminReply r = handle_admin(*registry, method, target, body,
                                    [&] { return render_metrics(*registry->snapshot(), stats); });
        if (r.changed) {
            publish(registry->snapshot());
            spdlog::info("admin {} {} → {} (pools version {})", std::string(method), std::string(target), r.status,
                         registry->snapshot()->version);
        } else if (r.status >= 400) {
            spdlog::warn("admin {} {} → {}", std::string(method), std::string(target), r.status);
        }
        return r;
    });
    try {
        admin.start();
    } catch (const std::exception& e) {
        std::cerr << "vigil-proxy: " << e.what() << "\n";
        return 1;
    }

    boost::asio::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
    signals.add(SIGUSR1);
    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](boost::system::error_code ec, int sig) {
            if (ec) return;
            if (sig == SIGUSR1) {
                // nginx's USR1: after logrotate moved the access log away. The
                // new file takes the old descriptor's number (dup2), so the
                // workers write on without being told.
                if (opts.access_log_fd >= 0 && args.access_log != "-") {
                    const int fd = ::open(args.access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
                    if (fd < 0) {
                        spdlog::error("cannot reopen access log {}: {}; writing on to the old file", args.access_log,
                                      std::strerror(errno));
                    } else {
                        ::dup3(fd, opts.access_log_fd, O_CLOEXEC);
                        ::close(fd);
                        spdlog::info("access log {} reopened", args.access_log);
                    }
                }
                wait_signal();
                return;
            }
            if (sig == SIGHUP) {
                for (std::size_t i = 0; i < shared.size(); ++i) {
                    if (!shared[i].spec.tls()) continue;
                    std::string err;
                    auto ctx = make_server_context(shared[i].spec.tls_cert, shared[i].spec.tls_key, err);
                    if (!ctx) {
                        spdlog::error("[proxy:{}] TLS reload failed, keeping the current certificate: {}", shared[i].spec.name, err);
                        continue;
                    }
                    for (auto& w : workers) w->post_tls(i, ctx);
                    spdlog::info("[proxy:{}] TLS certificate reloaded", shared[i].spec.name);
                }
                wait_signal();
                return;
            }
            admin.stop();
            signals.cancel();
            auto left = std::make_shared<std::atomic<std::size_t>>(workers.size());
            const auto grace_ms = args.grace.count();
            for (auto& w : workers)
                w->post_stop([left, sig, grace_ms] {
                    if (left->fetch_sub(1) == 1) spdlog::info("signal {}: stopping (grace {} ms)", sig, grace_ms);
                });
        });
    };
    wait_signal();

    for (auto& w : workers) w->start();
    for (const auto& l : shared)
        spdlog::info("[proxy:{}] listening on {}:{}{}{}", l.spec.name, l.spec.host, l.spec.port,
                     l.spec.tcp ? " (TCP)" : l.spec.tls() ? " (TLS)" : "",
                     l.inherited_fd >= 0 ? " (socket held by vigild)" : "");
    spdlog::info("ready: {} worker(s), admin socket {}", n, admin_path);
    vigil::supervisor::SdNotify().send("READY=1");  // for vigild's kind = proxy, and systemd

    io.run();  // until the signal handler has posted stops and nothing else is pending

    // Workers finish their in-flight requests; past the grace period they are stopped.
    std::mutex mu;
    std::condition_variable cv;
    bool joined = false;
    std::thread joiner([&] {
        for (auto& w : workers) w->join();
        std::lock_guard lock(mu);
        joined = true;
        cv.notify_all();
    });
    {
        std::unique_lock lock(mu);
        if (!cv.wait_for(lock, args.grace, [&] { return joined; })) {
            spdlog::warn("grace period over: closing remaining connections");
            for (auto& w : workers) w->force_stop();
        }
    }
    joiner.join();
    spdlog::info("stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    auto logger = spdlog::stderr_color_mt("vigil-proxy");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ vigil-proxy: %v");
    spdlog::set_default_logger(logger);

    if (argc == 4 && std::string_view(argv[1]) == "--gen-cert") {
        std::string err;
        if (!generate_self_signed(argv[2], argv[3], err)) {
            std::cerr << "vigil-proxy: " << err << "\n";
            return 1;
        }
        std::cout << "wrote " << argv[2] << " and " << argv[3] << "\n";
        return 0;
    }
    return run(parse_args(argc, argv));
}
