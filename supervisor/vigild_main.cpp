// vigild: the supervisor daemon. Loads the config (or only checks it, like
// `nginx -t`), takes the state-dir lock so two daemons never supervise the
// same programs, becomes a child subreaper and runs the event loop until a
// shutdown has stopped every program.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <set>
#include <string>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "common/version.hpp"
#include "config/loader.hpp"
#include "supervisor/child_signals.hpp"
#include "supervisor/control_api.hpp"
#include "supervisor/control_server.hpp"
#include "supervisor/web/web_page.hpp"
#include "supervisor/daemon_settings.hpp"
#include "supervisor/xmlrpc/interface.hpp"
#include "supervisor/proxy_link.hpp"
#include "supervisor/reexec.hpp"
#include "supervisor/sd_notify.hpp"
#include "supervisor/events/event_bus.hpp"
#include "supervisor/supervisor.hpp"
#include "supervisor/replication/manager.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/vigil/vigil.ini";

struct Options {
    std::string config = kDefaultConfig;
    bool check = false;
    int reexec_state = -1;  // the fd of a re-exec's state (reexec.hpp)
};

// fmt, not iostreams: <iostream>'s static initializer alone would make
// libstdc++'s whole locale machinery resident in an idle daemon.
void usage(std::FILE* out) {
    fmt::print(out,
               "usage: vigild [-c FILE] [--check] [--version]\n"
               "  -c, --config FILE  configuration (default {})\n"
               "  -t, --check        validate the configuration and exit 0 (valid) or 1\n"
               "  -v, --version      print the version\n",
               kDefaultConfig);
}

// Returns the exit code to leave with, or -1 to go on.
int parse_args(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "-c" || a == "--config") && i + 1 < argc) {
            o.config = argv[++i];
        } else if (a.rfind("--config=", 0) == 0) {
            o.config = a.substr(9);
        } else if (a == "--reexec-state" && i + 1 < argc) {
            o.reexec_state = std::atoi(argv[++i]);
        } else if (a == "-t" || a == "--check") {
            o.check = true;
        } else if (a == "-v" || a == "--version") {
            fmt::print("vigild {}\n", vigil::kVersion);
            return 0;
        } else if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        } else {
            fmt::print(stderr, "vigild: unknown argument '{}'\n", a);
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

// One vigild per state directory: a second one would start every program twice.
bool take_lock(const std::string& state_dir, int& fd_out) {
    const std::string path = state_dir + "/vigild.lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fmt::print(stderr, "vigild: cannot open {}: {}\n", path, std::strerror(errno));
        return false;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char buf[32] = {};
        [[maybe_unused]] auto n = ::pread(fd, buf, sizeof buf - 1, 0);
        fmt::print(stderr, "vigild: another vigild (pid {}) already uses state_dir {}\n", buf[0] ? buf : "?",
                   state_dir);
        ::close(fd);
        return false;
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    [[maybe_unused]] auto r = ::ftruncate(fd, 0);
    [[maybe_unused]] auto w = ::pwrite(fd, pid.data(), pid.size(), 0);
    fd_out = fd;
    return true;
}

// As `nginx -t` loads the certificates, so does --check, through the proxy's
// own --check: vigild links no OpenSSL, and the proxy is what will load them.
bool check_proxies(const vigil::config::Config& config) {
    bool ok = true;
    for (const auto& p : config.programs) {
        if (p.kind != "proxy") continue;
        const std::string cmd = p.command + " --check 2>&1";
        FILE* f = ::popen(cmd.c_str(), "r");
        if (!f) {
            fmt::print(stderr, "vigild: [program:{}]: cannot run {}: {}\n", p.name, p.command, std::strerror(errno));
            ok = false;
            continue;
        }
        std::string out;
        char buf[512];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0 && out.size() < 65536;) out.append(buf, n);
        const int st = ::pclose(f);
        if (st != 0) {
            while (!out.empty() && out.back() == '\n') out.pop_back();
            fmt::print(stderr, "vigild: [program:{}] (kind = proxy) does not load: {}\n", p.name, out);
            ok = false;
        }
    }
    return ok;
}

// `existing_too`: also set the mode of a directory that was there. Not for
// log_dir: a supervisord config's childlogdir defaults to /tmp.
bool make_dir(const std::string& dir, mode_t mode, bool existing_too) {
    std::error_code ec;
    const bool created = std::filesystem::create_directories(dir, ec);
    if (ec) {
        fmt::print(stderr, "vigild: cannot create {}: {}\n", dir, ec.message());
        return false;
    }
    if (created || existing_too) ::chmod(dir.c_str(), mode);
    return true;
}

// Limits this host cannot apply: a warning, not an error, because the
// config is fine and another host may have the controllers.
void warn_missing_controllers(const vigil::config::Config& config) {
    std::set<std::string> seen;  // once per [program:x], not per process
    for (const auto& p : config.programs) {
        const auto missing = vigil::supervisor::missing_controllers(p.limits);
        if (missing.empty() || !seen.insert(p.program).second) continue;
        fmt::print(stderr, "{}:{}: warning: [program:{}] limits not applied on this host: {}; {}\n", p.loc.file,
                   p.loc.line, p.program, vigil::supervisor::describe_not_applied(missing),
                   config.daemon.limits_required ? "it will be refused (limits = required)"
                                                 : "it runs without them (limits = best-effort)");
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options opts;
    if (int rc = parse_args(argc, argv, opts); rc >= 0) return rc;
    // Re-executed in place by `vigilctl reexec`: the old image's state, or,
    // when it cannot be read, a crashed vigild's path (stop what runs,
    // start fresh) with nothing carried left open.
    std::optional<vigil::supervisor::reexec::State> carried;
    if (opts.reexec_state >= 0) {
        std::string err;
        carried = vigil::supervisor::reexec::read_state(opts.reexec_state, err);
        if (!carried) {
            fmt::print(stderr, "vigild: cannot take over the previous image's state ({}); stopping what it left "
                               "running and starting fresh\n", err);
            vigil::supervisor::reexec::close_inherited();
        }
    }

    vigil::config::LoadOptions load_opts;
    load_opts.env = vigil::config::environment_map();
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) load_opts.host_node_name = host;
    // Users, commands and directories are checked too (host_checks): an
    // error for --check and for reread/update/reload, which keep the running
    // config. At start only a warning: the program concerned fails at spawn
    // with the same reason, and the others still start.
    load_opts.host_checks = true;
    auto loaded = vigil::config::load_file(opts.config, load_opts);
    std::vector<vigil::config::Error> host_problems;
    if (!loaded.ok() && !opts.check) {
        load_opts.host_checks = false;
        auto plain = vigil::config::load_file(opts.config, load_opts);
        load_opts.host_checks = true;
        if (plain.ok()) {
            host_problems = std::move(loaded.errors);
            loaded = std::move(plain);
        }
    }
    if (opts.check)
        for (const auto& w : loaded.warnings) fmt::print(stderr, "warning: {}\n", w.to_string());
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) fmt::print(stderr, "{}\n", e.to_string());
        fmt::print(stderr, "vigild: configuration {} has {} error{}\n", opts.config, loaded.errors.size(),
                   loaded.errors.size() == 1 ? "" : "s");
        return 1;
    }
    vigil::config::Config config = std::move(*loaded.config);
    vigil::supervisor::fill_proxy_command(config, opts.config);
    if (opts.check) {
        warn_missing_controllers(config);
        if (!check_proxies(config)) return 1;
        fmt::print("vigild: configuration {} is valid ({} processes{})\n", opts.config, config.programs.size(),
                   loaded.supervisord ? ", read as a supervisord config" : "");
        return 0;
    }

    if (std::string err = vigil::supervisor::setup_daemon_logging(config.daemon); !err.empty()) {
        fmt::print(stderr, "vigild: cannot start: {}\n", err);
        return 1;
    }
    const rlim_t fd_limit = vigil::supervisor::raise_fd_limit();
    if (std::string err = vigil::supervisor::apply_process_settings(config.daemon); !err.empty()) {
        spdlog::error("cannot start: {}", err);
        return 1;
    }
    if (!make_dir(config.daemon.state_dir, 0700, true) || !make_dir(config.daemon.log_dir, 0750, false)) return 1;
    int lock_fd = -1;
    if (!take_lock(config.daemon.state_dir, lock_fd)) return 1;
    if (std::string err = vigil::supervisor::write_pidfile(config.daemon); !err.empty()) {
        spdlog::error("cannot start: {}", err);
        return 1;
    }
    const vigil::config::Daemon daemon_settings = config.daemon;
    const std::vector<vigil::config::Error> load_warnings = std::move(loaded.warnings);

    // Orphans of our programs (double-forked daemons, a shell's leftovers)
    // are re-parented to us instead of PID 1, so we can reap them.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::signal(SIGPIPE, SIG_IGN);

    boost::asio::io_context io(1);
    vigil::supervisor::Supervisor sup(io, std::move(config), std::random_device{}(), carried ? &*carried : nullptr);
    vigil::supervisor::SdNotify notify;
    // [eventlistener:x] pools and the events they get (docs/event-listeners.md).
    vigil::supervisor::events::EventBus events(io, sup);

    auto shutdown = [&] {
        if (sup.shutting_down()) return;
        notify.send("STOPPING=1");
        events.stopping();
        sup.shutdown([&] { io.stop(); });
    };
    const std::string config_path = opts.config;
    auto reload_source = [&] {
        auto r = vigil::config::load_file(config_path, load_opts);
        if (r.config) vigil::supervisor::fill_proxy_command(*r.config, config_path);
        return r;
    };
    vigil::supervisor::ControlApi api(io, sup, reload_source, shutdown);
    vigil::supervisor::ProxyLink proxy_link(io, sup);
    // replica_of pairs: roles, sync mode, failover (docs/replication.md).
    vigil::supervisor::ReplicationManager replication(io, sup);
    replication.start();
    api.set_replication(&replication);
    api.set_proxy(&proxy_link);
    // `vigilctl reopen` and SIGUSR2 (supervisord's signal for it): after
    // logrotate moved the files, vigild's own log and every program's are
    // opened again at their paths. vigild's log settings are read at start
    // only, so the start's are the ones reopened.
    auto reopen_logs = [&]() -> int {
        int n = sup.reopen_logs();
        if (!daemon_settings.logfile.empty()) {
            if (std::string err = vigil::supervisor::setup_daemon_logging(daemon_settings); !err.empty())
                spdlog::error("cannot reopen vigild's log: {}", err);
            else
                ++n;
        }
        spdlog::info("reopened {} log files", n);
        return n;
    };
    api.set_reopener(reopen_logs);
    vigil::supervisor::xmlrpc::Interface rpc(io, sup, reload_source, shutdown);
    api.set_xmlrpc(&rpc);
    rpc.set_remote_events([&events](const std::string& type, const std::string& data) {
        events.remote_communication(type, data);
    });
    vigil::supervisor::web::WebPage web_page(sup);
    api.set_web(&web_page);
    vigil::supervisor::ControlServer server(io, api, sup);
    // After a re-exec the listener is the old image's: never unlinked nor
    // rebound, so no client was refused meanwhile.
    const auto& dcfg = sup.config().daemon;
    if (std::string err = carried ? server.adopt(carried->control_fd, dcfg.control_socket, dcfg.socket_group,
                                                 dcfg.read_only_group, dcfg.log_group)
                                  : server.listen(dcfg.control_socket, dcfg.socket_group, dcfg.read_only_group,
                                                  dcfg.log_group);
        !err.empty()) {
        spdlog::error("cannot start: {}", err);
        return 1;
    }
    for (const std::string& err : {server.secure_socket(dcfg.http),
                                   server.adopt_tcp(carried ? carried->tcp_fd : -1, dcfg.http)}) {
        if (err.empty()) continue;
        spdlog::error("cannot start: {}", err);
        return 1;
    }

    // SIGHUP = reread + update, as `vigilctl reload` does; a broken edit is
    // logged with every error and changes nothing.
    auto reload = [&] {
        notify.send("RELOADING=1");
        auto loaded = reload_source();
        for (const auto& w : loaded.warnings) spdlog::warn("reload: {}", w.to_string());
        if (!loaded.ok()) {
            for (const auto& e : loaded.errors) spdlog::error("reload refused: {}", e.to_string());
        } else {
            const auto d = sup.update(std::move(*loaded.config));
            proxy_link.reconfigure();
            spdlog::info("reload: {} added, {} changed, {} removed, {} unchanged", d.added.size(), d.changed.size(),
                         d.removed.size(), d.unchanged.size());
        }
        notify.send("READY=1");
    };

    boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
    signals.add(SIGUSR2);
    signals.add(SIGCHLD);
    signals.add(SIGPWR);
    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            switch (sig) {
                case SIGCHLD: sup.reap_children(); break;
                case SIGHUP: spdlog::info("SIGHUP received: reloading {}", config_path); reload(); break;
                case SIGUSR2: reopen_logs(); break;
                default:
                    spdlog::info("{} received{}", strsignal(sig), sup.shutting_down() ? "; still stopping" : "");
                    shutdown();
            }
            wait_signal();
        });
    };
    wait_signal();
    // Blocked by the old image across a re-exec: pending ones arrive now.
    vigil::supervisor::reexec::unblock_signals();
    vigil::supervisor::Reexecutor reexecutor(sup, server, notify, reload_source,
                                             std::vector<std::string>(argv, argv + argc),
                                             carried ? carried->reexecs : 0);
    api.set_reexec(&reexecutor);

    // systemd: READY=1 once the start-up targets are reached, STATUS= with a
    // one-line summary on every change, WATCHDOG=1 only from the running loop.
    bool ready_sent = false;
    auto report = [&](const vigil::supervisor::ProcessRunner&, const vigil::core::Decision&) {
        if (!notify.enabled()) return;
        int running = 0, other = 0;
        for (const auto& name : sup.order())
            if (const auto* r = sup.find(name)) (r->state() == vigil::core::State::running ? running : other)++;
        notify.send("STATUS=" + std::to_string(running) + " running, " + std::to_string(other) + " not running");
        if (!ready_sent && sup.start_settled()) {
            ready_sent = true;
            notify.send("READY=1");
        }
    };
    sup.subscribe(report);
    boost::asio::steady_timer watchdog(io);
    std::function<void()> pet = [&] {
        notify.send("WATCHDOG=1");
        watchdog.expires_after(*notify.watchdog_interval());
        watchdog.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) pet();
        });
    };
    if (notify.watchdog_interval()) pet();

    for (const auto& w : load_warnings) spdlog::warn("{}", w.to_string());
    for (const auto& e : host_problems)
        spdlog::warn("{} (the program will fail to start; vigild --check refuses this file)", e.to_string());
    spdlog::debug("file descriptor limit {} (programs get {})", fd_limit,
                  vigil::supervisor::child_fd_limit.rlim_cur);
    if (carried) {
        events.start();
        const auto n = sup.resume(*carried);
        spdlog::info("vigild {} re-executed in place (pid {}, was {}): {} processes carried over, none restarted",
                     vigil::kVersion, ::getpid(), carried->from_version, n);
        carried.reset();  // its descriptors belong to their new owners now
    } else {
        spdlog::info("vigild {} starting {} processes from {}", vigil::kVersion, sup.order().size(), opts.config);
        if (const auto n = sup.stop_leftovers(); n > 0)
            spdlog::warn("stopped {} processes a previous vigild left running", n);
        events.start();
        sup.start();
    }
    if (!ready_sent && sup.start_settled() && notify.enabled()) {
        ready_sent = true;
        notify.send("READY=1");
    }
    io.run();
    server.close();
    spdlog::info("vigild exiting");
    vigil::supervisor::remove_pidfile(daemon_settings);
    ::close(lock_fd);
    return 0;
}
