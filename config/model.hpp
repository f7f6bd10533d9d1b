// The typed, validated configuration vigild runs from. Everything here is
// plain data: the loader (loader.hpp) fills it from INI files, the supervisor
// reads it. Values are already expanded (%(program_name)s …) and checked, so
// consumers never re-validate.
#pragma once

#include "config/http_servers.hpp"
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vigil::config {

using Duration = std::chrono::milliseconds;

// Where a value came from, so later errors (cycles, unknown names) can still
// point at `file:line`.
struct SourceLoc {
    std::string file;
    int line = 0;
    bool operator==(const SourceLoc&) const = default;
};

struct Backoff {
    Duration first{1000};
    double factor = 2.0;
    Duration cap{60000};
    bool operator==(const Backoff&) const = default;
};

enum class AutoRestart { never, always, unexpected };

enum class DependencyCondition { started, healthy };

struct Dependency {
    std::string name;  // a program (section) name or an expanded process name
    DependencyCondition condition = DependencyCondition::started;
    SourceLoc loc;
    bool operator==(const Dependency&) const = default;
};

// stdout/stderr capture. An empty path means "no file" (supervisord's NONE).
struct LogTarget {
    std::string path;
    std::uint64_t max_bytes = 50ull * 1024 * 1024;  // 0 = never rotate
    int backups = 10;
    // Each line also goes to the system log (syslog(3), tagged with the
    // process name): stdout_syslog / stderr_syslog, or `*_logfile = syslog`.
    bool syslog = false;
    bool operator==(const LogTarget&) const = default;
};

enum class HealthKind { none, http, https, tcp, postgres, redis, exec };

struct HealthCheck {
    HealthKind kind = HealthKind::none;
    std::string target;  // the URL or command as written (minus "exec:")
    std::string host;    // parsed for http/https/tcp/postgres/redis
    std::uint16_t port = 0;
    std::string path = "/";      // http(s)
    std::string user, database;  // postgres
    Duration interval{30000};
    Duration timeout{10000};
    int retries = 3;
    int rise = 1;
    Duration start_period{0};
    // Added with the health engine (supervisor/health, docs/health.md); the
    // loader keys are health_start_interval, health_expect_status,
    // health_expect_body and startup_check.
    Duration start_interval{1000};  // check cadence inside the start period (Docker's)
    int expect_status = 0;          // http(s): 0 = any status < 400, like curl -f
    std::string expect_body;        // http(s): the body must contain this, when set
    // A probe written like `healthcheck` that holds the checks above off
    // until it first passes (Kubernetes' startup probe). Zero or one element,
    // a vector only because a struct cannot hold itself; of the element only
    // the probe fields (kind … database) are used.
    std::vector<HealthCheck> startup;
    bool operator==(const HealthCheck&) const = default;
};

enum class OnUnhealthy { isolate, restart };

struct Limits {
    std::optional<std::uint64_t> memory_bytes;
    std::optional<double> cpu_cores;
    std::optional<std::uint32_t> pids;
    bool operator==(const Limits&) const = default;
};

// One supervised process. A [program:x] with numprocs = N yields N of these,
// each with its own expanded `name` (process_name) and process_num.
struct Program {
    std::string name;     // the process name, unique across the config
    std::string program;  // the [program:NAME] section it came from
    std::string group;    // [group:G] that lists it, else == program
    int process_num = 0;
    int numprocs = 1;
    SourceLoc loc;  // the section header

    std::string kind = "process";  // process | postgres | redis | proxy
    // Keys of kind = postgres and kind = redis (config/kinds.hpp). pg_bin_dir
    // and redis_bin hold the resolved defaults when the kind built the command.
    std::string data_dir;    // absolute
    std::string pg_bin_dir;  // postgres: holds initdb and postgres
    std::string redis_bin;   // redis: the redis-server binary
    std::string db_user;     // postgres: superuser made by initdb; empty = postgres
    std::string db_name;     // postgres: database made at first init; empty = postgres
    std::string command;           // a command line, split by the spawner (shell-like quoting)
    std::string directory;         // empty: vigild's cwd
    std::string user;              // empty: vigild's user
    std::string os_group;          // key `group`; empty: the user's primary group
    std::optional<unsigned> umask;
    std::vector<std::pair<std::string, std::string>> environment;
    // supervisord's `serverurl`: SUPERVISOR_SERVER_URL for this program;
    // empty (AUTO): children_server_url() of the running vigild.
    std::string serverurl;

    bool autostart = true;
    AutoRestart autorestart = AutoRestart::always;
    std::vector<int> exitcodes{0};
    Duration startsecs{1000};
    std::optional<int> startretries;  // nullopt = unlimited
    Backoff backoff;
    Duration backoff_reset{60000};

    int stopsignal = 15;  // SIGTERM
    Duration stopwaitsecs{10000};
    bool stopasgroup = true;
    bool killasgroup = true;
    int priority = 999;

    LogTarget stdout_log;
    LogTarget stderr_log;
    bool redirect_stderr = false;

    std::vector<Dependency> depends_on;

    HealthCheck health;
    OnUnhealthy on_unhealthy = OnUnhealthy::isolate;
    Limits limits;
    std::string address;  // host:port this instance serves, for upstream pools

    // Replication (kind = postgres | redis, docs/replication.md): the program
    // this one is a replica of, and how long its primary may stay down or
    // unhealthy before vigild fails over (the primary's value counts).
    std::string replica_of;
    SourceLoc replica_of_loc;
    Duration failover_after{10000};
    bool replicated = false;  // set by link(): a replica, or the primary of one

    // The sd_notify protocol: vigild serves NOTIFY_SOCKET to the child. With
    // notify, READY=1 (not startsecs) makes it RUNNING; with a watchdog, a
    // child whose WATCHDOG=1 pings stop for that long is restarted.
    bool notify = false;
    std::optional<Duration> watchdog;

    // Listening sockets vigild binds and holds for as long as the program is
    // configured, passed to every process it starts (systemd's LISTEN_FDS,
    // from fd 3), so connections wait in the backlog while the program is
    // down instead of being refused. Canonical tcp://… / unix://… text.
    std::vector<std::string> sockets;
    std::string socket_owner;       // unix sockets: user[:group]; empty = vigild's
    unsigned socket_mode = 0700;    // unix sockets (supervisord's default)
    int socket_backlog = 0;         // 0 = SOMAXCONN
    // [fcgi-program:x]: the one socket is fd 0, as supervisord passes it.
    bool socket_on_stdin = false;
    // A container image, read only by `vigilctl export kubernetes`
    // (docs/kubernetes.md); vigild never runs it, and changing it restarts nothing.
    std::string image;

    // supervisord's event keys (supervisor/events, docs/event-listeners.md):
    // each chunk of output becomes a PROCESS_LOG_* event; text between
    // <!--XSUPERVISOR:BEGIN--> and END (at most *_capture_maxbytes, 0 = off)
    // a PROCESS_COMMUNICATION_* event.
    bool stdout_events_enabled = false;
    bool stderr_events_enabled = false;
    std::uint64_t stdout_capture_maxbytes = 0;
    std::uint64_t stderr_capture_maxbytes = 0;
    // Set for the processes of an [eventlistener:NAME]: the pool's name.
    // Their stdin and stdout carry the listener protocol.
    std::string listener_pool;

    bool operator==(const Program&) const = default;
};

struct Group {
    std::string name;
    std::vector<std::string> programs;  // [program:*] section names
    int priority = 999;
    SourceLoc loc;
    bool operator==(const Group&) const = default;
};

// [eventlistener:NAME]: a pool of listener processes (Program entries with
// listener_pool == name) and what it subscribes to.
struct EventListenerPool {
    std::string name;
    std::vector<std::string> events;  // supervisord event type names, upper case, no repeats
    int buffer_size = 10;             // events held while no listener is READY; the oldest goes first
    // A listener that has not said READY this long after it started, or
    // after its last result, is killed and restarted (vigil's; 0 = never).
    Duration ready_timeout{60000};
    int priority = -1;
    std::vector<std::string> processes;  // its process names, in process_num order
    SourceLoc loc;
    bool operator==(const EventListenerPool&) const = default;
};

enum class Balance { least_conn, round_robin };

// Which servers of a pool of replicated data stores take connections, as
// vigild decides them (docs/proxy.md, "TCP listeners"): only the current
// primary, or the healthy replicas (the primary when none is).
enum class Role { primary, replica };

struct Upstream {
    std::string name;
    Balance balance = Balance::least_conn;
    std::vector<std::string> servers;  // process names or host:port
    int max_fails = 3;
    Duration fail_timeout{30000};
    Duration slow_start{0};  // a server back up ramps from ~0 to full weight over this; 0 = off
    // Outlier ejection as Envoy does it (docs/proxy.md, "Passive health").
    int max_ejection_percent = 50;   // of the pool's servers ejected at once
    Duration max_ejection_time{300000};  // cap of k × fail_timeout
    int eject_on_5xx = 0;            // 5xx answers in a row that eject; 0 = off
    // Unset: every server is in rotation as vigild's health says (today's
    // pools). Set: vigil-proxy holds every server until vigild's first state
    // push, and vigild pushes `up` only for the servers of that role.
    std::optional<Role> role;
    SourceLoc loc;
    bool operator==(const Upstream&) const = default;
};

struct Route {
    std::string prefix;
    std::string upstream;
    bool operator==(const Route&) const = default;
};

// `http`: vigil-proxy's HTTP/1.1 reverse proxy. `tcp`: an L4 listener that
// relays bytes to one server of its one pool (PostgreSQL, Redis).
enum class ProxyMode { http, tcp };

struct Proxy {
    std::string name;
    ProxyMode mode = ProxyMode::http;
    std::string listen;  // host:port
    std::string tls_cert, tls_key;
    std::vector<Route> routes;  // mode = tcp: exactly one, with an empty prefix
    std::optional<int> rate_limit_per_min;
    // mode = tcp only: a relayed connection with no byte either way for
    // idle_timeout is closed (0: never); a new connection waits at most
    // connect_timeout for a usable server (unset: vigil-proxy's --connect-timeout).
    Duration idle_timeout{3600000};
    std::optional<Duration> connect_timeout;
    SourceLoc loc;
    bool operator==(const Proxy&) const = default;
};

struct Daemon {
    std::string control_socket = "/run/vigil/vigil.sock";
    std::string socket_group;  // empty: socket mode 0600
    // Members may read status, health, upstreams, metrics and events, not
    // act; program output only if also in log_group (supervisor/access.hpp).
    std::string read_only_group;
    std::string log_group;
    std::string state_dir = "/var/lib/vigil";
    std::string log_dir = "/var/log/vigil";
    std::string log_level = "info";
    // `limits = best-effort` (default): a limit this host cannot apply (no
    // cgroup controller: containers, LXC, chroot, WSL) is warned about and
    // the program runs without it. `limits = required`: such a program is
    // refused (BACKOFF with the reason) instead.
    bool limits_required = false;
    HttpServers http;  // config/http_server_sections.cpp

    // From [supervisord] (config/supervisord_section.cpp); a supervisord
    // config starts from supervisord's defaults (config/dialect.cpp).
    std::optional<unsigned> umask;  // vigild's umask, which programs inherit; unset: as started
    std::uint64_t minfds = 0;       // RLIMIT_NOFILE of programs at least this; 0: as started
    std::uint64_t minprocs = 0;     // RLIMIT_NPROC soft limit at least this; 0: as started
    // Given to every program, under the program's own environment.
    std::vector<std::pair<std::string, std::string>> environment;
    // The user and working directory of programs that set none. vigild
    // itself keeps its user and directory (supervisord switches to them).
    std::string user, directory;
    std::string pidfile;  // empty: no pid file
    std::string identifier = "vigil";
    // vigild's own log, besides stderr: a file rotated at logfile_maxbytes
    // (0: never) keeping logfile_backups old files, or "syslog". Empty: none.
    std::string logfile;
    std::uint64_t logfile_maxbytes = 50ull * 1024 * 1024;
    int logfile_backups = 10;
    bool silent = false;      // nothing on stderr (only with a logfile)
    bool strip_ansi = false;  // ANSI escape sequences removed from programs' log files
    bool operator==(const Daemon&) const = default;
};

struct Config {
    std::string file;  // the main file, absolute
    Daemon daemon;
    std::vector<Program> programs;  // in start order: dependencies first, then priority, then name
    std::vector<Group> groups;
    std::vector<Upstream> upstreams;
    std::vector<Proxy> proxies;
    std::vector<EventListenerPool> event_listeners;  // by name

    const Program* find(const std::string& process_name) const {
        for (const auto& p : programs)
            if (p.name == process_name) return &p;
        return nullptr;
    }
};

}  // namespace vigil::config
