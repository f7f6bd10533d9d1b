#include <csignal>

#include "helpers.hpp"

using namespace cfgtest;
using std::chrono::milliseconds;

TEST_CASE("config: program defaults match supervisord and docs/config.md") {
    Config c = ok("[program:app]\ncommand = /usr/bin/app --serve\n");
    REQUIRE(c.programs.size() == 1);
    const Program& p = c.programs[0];
    CHECK(p.name == "app");
    CHECK(p.program == "app");
    CHECK(p.group == "app");
    CHECK(p.process_num == 0);
    CHECK(p.numprocs == 1);
    CHECK(p.loc == SourceLoc{kFile, 1});
    CHECK(p.kind == "process");
    CHECK(p.command == "/usr/bin/app --serve");
    CHECK(p.directory.empty());
    CHECK(p.user.empty());
    CHECK_FALSE(p.umask);
    CHECK(p.environment.empty());
    CHECK(p.autostart);
    CHECK(p.autorestart == AutoRestart::always);
    CHECK(p.exitcodes == std::vector<int>{0});
    CHECK(p.startsecs == milliseconds(1000));
    CHECK_FALSE(p.startretries);  // unlimited
    CHECK(p.backoff == Backoff{milliseconds(1000), 2.0, milliseconds(60000)});
    CHECK(p.backoff_reset == milliseconds(60000));
    CHECK(p.stopsignal == SIGTERM);
    CHECK(p.stopwaitsecs == milliseconds(10000));
    CHECK(p.stopasgroup);
    CHECK(p.killasgroup);
    CHECK(p.priority == 999);
    CHECK(p.stdout_log.path == "/var/log/vigil/app.out.log");
    CHECK(p.stderr_log.path == "/var/log/vigil/app.err.log");
    CHECK(p.stdout_log.max_bytes == 50ull << 20);
    CHECK(p.stdout_log.backups == 10);
    CHECK(p.stderr_log.max_bytes == 50ull << 20);
    CHECK(p.stderr_log.backups == 10);
    CHECK_FALSE(p.redirect_stderr);
    CHECK(p.depends_on.empty());
    CHECK(p.health.kind == HealthKind::none);
    CHECK(p.health.interval == milliseconds(30000));
    CHECK(p.health.timeout == milliseconds(10000));
    CHECK(p.health.retries == 3);
    CHECK(p.health.start_period == milliseconds(0));
    CHECK(p.on_unhealthy == OnUnhealthy::isolate);
    CHECK(p.limits == Limits{});
    CHECK(p.address.empty());
}

TEST_CASE("config: every supervisord program key is read") {
    Config c = ok(R"([program:app]
command = /usr/bin/app -v
directory = /srv/app
user = www-data
environment = A=1,B="two, with comma",C='x y'
umask = 027
autostart = false
autorestart = unexpected
startsecs = 5
startretries = 3
exitcodes = 0,2, 3
stopsignal = INT
stopwaitsecs = 30s
stopasgroup = false
killasgroup = false
priority = 10
stdout_logfile = /var/log/app.log
stdout_logfile_maxbytes = 1MB
stdout_logfile_backups = 2
stderr_logfile = NONE
stderr_logfile_maxbytes = 0
stderr_logfile_backups = 0
)");
    const Program& p = get(c, "app");
    CHECK(p.command == "/usr/bin/app -v");
    CHECK(p.directory == "/srv/app");
    CHECK(p.user == "www-data");
    using Env = std::vector<std::pair<std::string, std::string>>;
    CHECK(p.environment == Env{{"A", "1"}, {"B", "two, with comma"}, {"C", "x y"}});
    CHECK(p.umask == 027u);
    CHECK_FALSE(p.autostart);
    CHECK(p.autorestart == AutoRestart::unexpected);
    CHECK(p.startsecs == milliseconds(5000));
    CHECK(p.startretries == 3);
    CHECK(p.exitcodes == std::vector<int>{0, 2, 3});
    CHECK(p.stopsignal == SIGINT);
    CHECK(p.stopwaitsecs == milliseconds(30000));
    CHECK_FALSE(p.stopasgroup);
    CHECK_FALSE(p.killasgroup);
    CHECK(p.priority == 10);
    CHECK(p.stdout_log == LogTarget{"/var/log/app.log", 1u << 20, 2});
    CHECK(p.stderr_log == LogTarget{"", 0, 0});
}

TEST_CASE("config: every vigil program key is read") {
    Config c = ok(R"([program:db]
command = /usr/lib/postgresql/15/bin/postgres -D /var/lib/pg
kind = postgres
user = postgres
data_dir = /var/lib/pg
backoff = 500ms,1.5,30s
backoff_reset = 2m
healthcheck = postgres://vigil@127.0.0.1:5432/app
health_interval = 5s
health_timeout = 2s
health_retries = 4
health_start_period = 20s
health_rise = 2
health_start_interval = 500ms
on_unhealthy = restart
memory_limit = 512M
cpu_limit = 1.5
pids_limit = 256
address = 127.0.0.1:5432
startretries = unlimited
)");
    const Program& p = get(c, "db");
    CHECK(p.kind == "postgres");
    CHECK(p.backoff == Backoff{milliseconds(500), 1.5, milliseconds(30000)});
    CHECK(p.backoff_reset == milliseconds(120000));
    CHECK(p.health.kind == HealthKind::postgres);
    CHECK(p.health.user == "vigil");
    CHECK(p.health.host == "127.0.0.1");
    CHECK(p.health.port == 5432);
    CHECK(p.health.database == "app");
    CHECK(p.health.interval == milliseconds(5000));
    CHECK(p.health.timeout == milliseconds(2000));
    CHECK(p.health.retries == 4);
    CHECK(p.health.start_period == milliseconds(20000));
    CHECK(p.health.rise == 2);
    CHECK(p.health.start_interval == milliseconds(500));
    CHECK(p.on_unhealthy == OnUnhealthy::restart);
    CHECK(p.limits.memory_bytes == 512ull << 20);
    CHECK(p.limits.cpu_cores == 1.5);
    CHECK(p.limits.pids == 256u);
    CHECK(p.address == "127.0.0.1:5432");
    CHECK_FALSE(p.startretries);
}

TEST_CASE("config: http health check options expect_status and expect_body") {
    Config c = ok(R"([program:web]
command = web
healthcheck = http://127.0.0.1:8080/healthz?full=1
health_expect_status = 204
health_expect_body = "ok"
startup_check = tcp://127.0.0.1:8080
)");
    const Program& p = get(c, "web");
    CHECK(p.health.kind == HealthKind::http);
    CHECK(p.health.path == "/healthz?full=1");
    CHECK(p.health.expect_status == 204);
    CHECK(p.health.expect_body == "\"ok\"");
    REQUIRE(p.health.startup.size() == 1);
    CHECK(p.health.startup[0].kind == HealthKind::tcp);
    CHECK(p.health.startup[0].port == 8080);
}

TEST_CASE("config: expect_status and expect_body need an http health check") {
    only_error("[program:r]\ncommand = r\nhealthcheck = redis://127.0.0.1:6379\nhealth_expect_status = 200\n", 4,
               "health_expect_status: only applies to http:// and https://");
}

TEST_CASE("config: backoff 0s,1,0s restarts at once") {
    Config c = ok("[program:a]\ncommand = a\nbackoff = 0s,1,0s\n");
    CHECK(get(c, "a").backoff == Backoff{milliseconds(0), 1.0, milliseconds(0)});
}

TEST_CASE("config: killasgroup defaults to stopasgroup, as in supervisord") {
    CHECK_FALSE(get(ok("[program:a]\ncommand = a\nstopasgroup = false\n"), "a").killasgroup);
    CHECK(get(ok("[program:a]\ncommand = a\nstopasgroup = false\nkillasgroup = true\n"), "a").killasgroup);
}

TEST_CASE("config: autorestart accepts booleans") {
    CHECK(get(ok("[program:a]\ncommand = a\nautorestart = true\n"), "a").autorestart == AutoRestart::always);
    CHECK(get(ok("[program:a]\ncommand = a\nautorestart = false\n"), "a").autorestart == AutoRestart::never);
    only_error("[program:a]\ncommand = a\nautorestart = sometimes\n", 3,
               "autorestart: expected true, false or unexpected, got 'sometimes'");
}

TEST_CASE("config: stopsignal by number and with SIG prefix") {
    CHECK(get(ok("[program:a]\ncommand = a\nstopsignal = 9\n"), "a").stopsignal == SIGKILL);
    CHECK(get(ok("[program:a]\ncommand = a\nstopsignal = SIGQUIT\n"), "a").stopsignal == SIGQUIT);
    CHECK(get(ok("[program:a]\ncommand = a\nstopsignal = HUP\n"), "a").stopsignal == SIGHUP);
    only_error("[program:a]\ncommand = a\nstopsignal = TERMINATE\n", 3, "stopsignal: expected a signal");
}

TEST_CASE("config: log files AUTO, NONE and paths") {
    Config c = ok(R"([vigil]
log_dir = /tmp/logs
[program:a]
command = a
stdout_logfile = auto
stderr_logfile = none
[program:b]
command = b
stdout_logfile = %(here)s/b.log
)");
    CHECK(get(c, "a").stdout_log.path == "/tmp/logs/a.out.log");
    CHECK(get(c, "a").stderr_log.path.empty());
    CHECK(get(c, "b").stdout_log.path == "/etc/vigil/b.log");
    CHECK(get(c, "b").stderr_log.path == "/tmp/logs/b.err.log");
}

TEST_CASE("config: redirect_stderr sends stderr to the stdout log") {
    Config c = ok("[program:a]\ncommand = a\nredirect_stderr = true\n");
    const Program& p = get(c, "a");
    CHECK(p.redirect_stderr);
    CHECK(p.stderr_log.path.empty());
    CHECK(p.stdout_log.path == "/var/log/vigil/a.out.log");
    only_error("[program:a]\ncommand = a\nredirect_stderr = true\nstderr_logfile = /x.log\n", 4,
               "stderr_logfile: has no effect with redirect_stderr = true");
}

TEST_CASE("config: environment values expand after splitting") {
    LoadOptions o;
    o.env = {{"LIST", "a,b"}};
    Config c = ok("[program:a]\ncommand = a\nenvironment = X=%(ENV_LIST)s,NAME=%(program_name)s,P=\"50%%\"\n", o);
    using Env = std::vector<std::pair<std::string, std::string>>;
    CHECK(get(c, "a").environment == Env{{"X", "a,b"}, {"NAME", "a"}, {"P", "50%"}});
}

TEST_CASE("config: environment continuation lines are separate assignments") {
    Config c = ok("[program:a]\ncommand = a\nenvironment = A=1\n    B=\"2, 3\",\n    C=4\n");
    using Env = std::vector<std::pair<std::string, std::string>>;
    CHECK(get(c, "a").environment == Env{{"A", "1"}, {"B", "2, 3"}, {"C", "4"}});
}

TEST_CASE("config: a quoted environment value may go on to the next line") {
    Config c = ok("[program:a]\ncommand = a\nenvironment = MSG=\"hello\n    world\"\n    B=1\n");
    using Env = std::vector<std::pair<std::string, std::string>>;
    CHECK(get(c, "a").environment == Env{{"MSG", "hello world"}, {"B", "1"}});
}

TEST_CASE("config: bad environment values are errors at their line") {
    only_error("[program:a]\ncommand = a\nenvironment = A=\"open\n", 3, "environment: unterminated quote");
    only_error("[program:a]\ncommand = a\nenvironment = A=1,JUSTNAME\n", 3, "environment: expected KEY=value");
    only_error("[program:a]\ncommand = a\nenvironment = 1A=x\n", 3, "invalid environment variable name '1A'");
    only_error("[program:a]\ncommand = a\nenvironment = A=1,A=2\n", 3, "A is set twice");
    only_error("[program:a]\ncommand = a\nenvironment = A=\"x\"y\n", 3, "expected ',' after the quoted value");
}

TEST_CASE("config: continuation lines of a command join with a space") {
    Config c = ok("[program:a]\ncommand = /bin/sh -c\n  'while true; do echo tick; sleep 1; done'\n");
    CHECK(get(c, "a").command == "/bin/sh -c 'while true; do echo tick; sleep 1; done'");
}

TEST_CASE("config: command is required unless kind = proxy") {
    only_error("[program:a]\ndirectory = /\n", 1, "[program:a] needs command = ...");
    only_error("[program:a]\ncommand =\n", 2, "command: must not be empty");
    only_error("[program:a]\ncommand = sh -c 'unterminated\n", 2, "command: unterminated single quote");
    Config c = ok("[program:proxy]\nkind = proxy\n[proxy:p]\nlisten = 127.0.0.1:8080\nroute = / u\n"
                  "[upstream:u]\nservers = 127.0.0.1:9000\n");
    CHECK(get(c, "proxy").kind == "proxy");
    CHECK(get(c, "proxy").command.empty());
}

TEST_CASE("config: bad program values are errors at their own line") {
    struct Case {
        const char* line;
        const char* message;
    } cases[] = {
        {"kind = docker", "kind: expected process, postgres, redis or proxy, got 'docker'"},
        {"umask = 999", "umask: expected an octal umask"},
        {"autostart = perhaps", "autostart: expected true or false, got 'perhaps'"},
        {"startsecs = soon", "startsecs: expected a duration"},
        {"startretries = -1", "startretries: expected unlimited or a number ≥ 0"},
        {"startretries = many", "startretries: expected unlimited or a number ≥ 0"},
        {"exitcodes = 0,256", "exitcodes: expected an integer from 0 to 255, got '256'"},
        {"exitcodes = ,", "exitcodes: expected a comma separated list"},
        {"stopwaitsecs = -5s", "stopwaitsecs: expected a duration"},
        {"priority = high", "priority: expected an integer"},
        {"numprocs = 0", "numprocs: expected an integer from 1 to 1000, got '0'"},
        {"numprocs = 1001", "numprocs: expected an integer from 1 to 1000"},
        {"numprocs_start = -1", "numprocs_start: expected an integer"},
        {"stdout_logfile_maxbytes = 5X", "stdout_logfile_maxbytes: expected a size"},
        {"stderr_logfile_backups = -1", "stderr_logfile_backups: expected an integer from 0 to 1000"},
        {"stdout_logfile =", "stdout_logfile: must not be empty (AUTO, NONE or a path)"},
        {"stdout_syslog = maybe", "stdout_syslog: expected true or false"},
        {"stdout_capture_maxbytes = lots", "stdout_capture_maxbytes: expected a size"},
        {"redirect_stderr = 2", "redirect_stderr: expected true or false"},
        {"backoff = 1s,2", "backoff: got '1s,2' (expected first,factor,cap"},
        {"backoff = x,2,60s", "backoff: first delay must be a duration, got 'x'"},
        {"backoff = 1s,0.5,60s", "backoff: factor must be a number from 1 to 100"},
        {"backoff = 10s,2,5s", "backoff: cap must be a duration ≥ the first delay"},
        {"backoff_reset = never", "backoff_reset: expected a duration"},
        {"memory_limit = 512", "memory_limit: expected a size of at least 1M"},
        {"memory_limit = lots", "memory_limit: expected a size of at least 1M"},
        {"cpu_limit = 0", "cpu_limit: expected a number of cores > 0"},
        {"cpu_limit = -1", "cpu_limit: expected a number of cores > 0"},
        {"cpu_limit = nan", "cpu_limit: expected a number of cores > 0"},
        {"pids_limit = 0", "pids_limit: expected an integer from 1 to 4194304"},
        {"address = localhost", "address: missing port in 'localhost'"},
        {"address = host:99999", "address: port must be from 1 to 65535"},
        {"process_name = a b", "process_name: 'a b' is not a valid process name"},
        {"process_name = a:b", "process_name: 'a:b' is not a valid process name"},
        {"on_unhealthy = restart", "on_unhealthy: has no effect without healthcheck"},
        {"health_interval = 5s", "health_interval: has no effect without healthcheck"},
        {"startup_check = tcp://a:1", "startup_check: has no effect without healthcheck"},
    };
    for (const auto& c : cases) {
        INFO(c.line);
        only_error(std::string("[program:a]\ncommand = a\n") + c.line + "\n", 3, c.message);
    }
}

TEST_CASE("config: health settings are checked when a healthcheck is set") {
    const std::string base = "[program:a]\ncommand = a\nhealthcheck = tcp://127.0.0.1:1\n";
    only_error(base + "health_interval = 0s\n", 4, "health_interval: must be greater than 0");
    only_error(base + "health_timeout = 0\n", 4, "health_timeout: must be greater than 0");
    only_error(base + "health_retries = 0\n", 4, "health_retries: expected an integer from 1 to 1000");
    only_error(base + "health_rise = 0\n", 4, "health_rise: expected an integer from 1 to 1000");
    only_error(base + "on_unhealthy = kill\n", 4, "on_unhealthy: expected restart or isolate, got 'kill'");
}

TEST_CASE("config: unknown program keys are errors, a key set twice keeps its last value") {
    only_error("[program:a]\ncommand = a\nautostrat = true\n", 3, "unknown key 'autostrat' in [program:a]");
    LoadResult r = load("[program:a]\ncommand = a\npriority = 1\nPriority = 2\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(r.config->programs[0].priority == 2);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].loc.line == 4);
    CHECK(r.warnings[0].message == "'priority' is set again in [program:a] (first at line 3): this value wins, as "
                                   "in supervisord");
}

TEST_CASE("config: %(here)s, %(group_name)s and %(host_node_name)s in program values") {
    LoadOptions o;
    o.host_node_name = "box1";
    Config c = ok("[group:g]\nprograms = a\n[program:a]\ncommand = %(here)s/run %(group_name)s %(host_node_name)s "
                  "%(program_name)s %(numprocs)d\n",
                  o);
    CHECK(get(c, "a").command == "/etc/vigil/run g box1 a 1");
    CHECK(get(c, "a").group == "g");
}

TEST_CASE("config: an unknown expansion is an error at the key's line") {
    only_error("[program:a]\ncommand = a\ndirectory = %(nothere)s\n", 3, "directory: unknown expansion %(nothere)s");
    only_error("[program:a]\ncommand = %(ENV_MISSING)s\n", 2, "command: environment variable MISSING is not set");
}

TEST_CASE("config: image = is a container image for vigilctl export, checked but not run") {
    Config c = ok("[program:a]\ncommand = /bin/a\nimage = registry.example.com/shop/a:1.4\n");
    CHECK(get(c, "a").image == "registry.example.com/shop/a:1.4");
    CHECK(get(ok("[program:b]\ncommand = /bin/b\n"), "b").image.empty());
    only_error("[program:a]\ncommand = /bin/a\nimage = a b\n", 3, "no blanks or quotes");
    only_error("[program:a]\ncommand = /bin/a\nimage =\n", 3, "must not be empty");
}
