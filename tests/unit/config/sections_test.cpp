#include "helpers.hpp"

using namespace cfgtest;
using std::chrono::milliseconds;

namespace {
const std::string kProxyProgram = "[program:proxy]\nkind = proxy\n";
}

TEST_CASE("config: [vigil] defaults") {
    Config c = ok("");
    CHECK(c.daemon == Daemon{});
    CHECK(c.daemon.control_socket == "/run/vigil/vigil.sock");
    CHECK(c.daemon.socket_group.empty());
    CHECK(c.daemon.state_dir == "/var/lib/vigil");
    CHECK(c.daemon.log_dir == "/var/log/vigil");
    CHECK(c.daemon.log_level == "info");
    CHECK(c.file == kFile);
    CHECK(c.programs.empty());
    CHECK_FALSE(c.daemon.limits_required);  // best-effort
}

TEST_CASE("config: [vigil] limits = best-effort | required") {
    CHECK(ok("[vigil]\nlimits = required\n").daemon.limits_required);
    CHECK_FALSE(ok("[vigil]\nlimits = best-effort\n").daemon.limits_required);
    only_error("[vigil]\nlimits = strict\n", 2, "limits: expected best-effort or required, got 'strict'");
}

TEST_CASE("config: [vigil] keys are read and expanded") {
    LoadOptions o;
    o.env = {{"RUNTIME", "/run/user/1000"}};
    Config c = ok(R"([vigil]
control_socket = %(ENV_RUNTIME)s/vigil.sock
socket_group = vigil
state_dir = %(here)s/state
log_dir = /tmp/logs
log_level = warning
)",
                  o);
    CHECK(c.daemon.control_socket == "/run/user/1000/vigil.sock");
    CHECK(c.daemon.socket_group == "vigil");
    CHECK(c.daemon.state_dir == "/etc/vigil/state");
    CHECK(c.daemon.log_dir == "/tmp/logs");
    CHECK(c.daemon.log_level == "warn");
}

TEST_CASE("config: [vigil] bad values") {
    only_error("[vigil]\nlog_level = chatty\n", 2, "log_level: expected trace, debug, info, warn");
    only_error("[vigil]\nstate_dir =\n", 2, "state_dir: must not be empty");
    only_error("[vigil]\ncontrol_socket = /" + std::string(120, 's') + "\n", 2,
               "control_socket: path is too long for a Unix socket (121 bytes, the limit is 107)");
    only_error("[vigil]\nlogfile = /x\n", 2, "unknown key 'logfile' in [vigil]");
    only_error("[vigil:x]\n", 1, "[vigil] takes no name");
}

TEST_CASE("config: [group] lists programs and sets their group") {
    Config c = ok(R"([group:backend]
programs = api, worker
priority = 5
[program:api]
command = api
[program:worker]
command = w
[program:alone]
command = x
)");
    REQUIRE(c.groups.size() == 1);
    CHECK(c.groups[0].name == "backend");
    CHECK(c.groups[0].programs == std::vector<std::string>{"api", "worker"});
    CHECK(c.groups[0].priority == 5);
    CHECK(c.groups[0].loc.line == 1);
    CHECK(get(c, "api").group == "backend");
    CHECK(get(c, "worker").group == "backend");
    CHECK(get(c, "alone").group == "alone");
}

TEST_CASE("config: [group] errors") {
    only_error("[group:g]\nprograms = nope\n", 2, "programs: unknown program 'nope'");
    only_error("[group:g]\npriority = 1\n", 1, "[group:g] needs programs = NAME,...");
    only_error("[group:g]\nprograms = a a\n[program:a]\ncommand = a\n", 2, "'a' is listed twice");
    only_error("[group:g]\nprograms = a\n[group:h]\nprograms = a\n[program:a]\ncommand = a\n", 4,
               "programs: 'a' is already in [group:g]");
    only_error("[group:web]\nprograms = a\n[program:a]\ncommand = a\n[program:web]\ncommand = w\n", 1,
               "[group:web] has the name of [program:web]");
}

TEST_CASE("config: [upstream] keys, with program names expanded to their processes") {
    Config c = ok(R"([program:api]
command = api
numprocs = 2
process_name = api-%(process_num)d
address = 127.0.0.1:70%(process_num)02d
[program:solo]
command = s
address = 127.0.0.1:7100
[upstream:pool]
balance = round_robin
servers = api solo 10.0.0.5:80 [::1]:81
max_fails = 5
fail_timeout = 10s
slow_start = 1m30s
max_ejection_percent = 30
max_ejection_time = 10m
eject_on_5xx = 5
[upstream:defaults]
servers = api-1
)");
    REQUIRE(c.upstreams.size() == 2);
    const Upstream& d = c.upstreams[0];  // sorted by name
    CHECK(d.name == "defaults");
    CHECK(d.balance == Balance::least_conn);
    CHECK(d.max_fails == 3);
    CHECK(d.fail_timeout == milliseconds(30000));
    CHECK(d.slow_start == milliseconds(0));
    CHECK(d.max_ejection_percent == 50);
    CHECK(d.max_ejection_time == milliseconds(300000));
    CHECK(d.eject_on_5xx == 0);
    CHECK(d.servers == std::vector<std::string>{"api-1"});
    const Upstream& u = c.upstreams[1];
    CHECK(u.name == "pool");
    CHECK(u.balance == Balance::round_robin);
    CHECK(u.servers == std::vector<std::string>{"api-0", "api-1", "solo", "10.0.0.5:80", "[::1]:81"});
    CHECK(u.max_fails == 5);
    CHECK(u.fail_timeout == milliseconds(10000));
    CHECK(u.slow_start == milliseconds(90000));
    CHECK(u.max_ejection_percent == 30);
    CHECK(u.max_ejection_time == milliseconds(600000));
    CHECK(u.eject_on_5xx == 5);
    CHECK(u.loc.line == 9);
}

TEST_CASE("config: [upstream] errors") {
    const std::string prog = "[program:a]\ncommand = a\n";
    only_error("[upstream:u]\nservers = ghost\n", 2, "servers: unknown program or process 'ghost'");
    only_error("[upstream:u]\nservers = 10.0.0.1:http\n", 2, "servers: port must be from 1 to 65535");
    only_error(prog + "[upstream:u]\nservers = a\n", 4, "servers: a has no address (set address = HOST:PORT");
    only_error("[upstream:u]\nservers = 1.2.3.4:80 1.2.3.4:80\n", 2, "servers: '1.2.3.4:80' is listed twice");
    only_error("[upstream:u]\nbalance = random\nservers = 1.2.3.4:80\n", 2,
               "balance: expected least_conn or round_robin, got 'random'");
    only_error("[upstream:u]\nservers = 1.2.3.4:80\nmax_fails = -1\n", 3, "max_fails: expected an integer");
    only_error("[upstream:u]\nservers = 1.2.3.4:80\nfail_timeout = 0s\n", 3, "fail_timeout: must be greater than 0");
    only_error("[upstream:u]\nservers = 1.2.3.4:80\nslow_start = fast\n", 3,
               "slow_start: expected a duration such as 10s");
    only_error("[upstream:u]\nservers = 1.2.3.4:80\nslow_start = -5s\n", 3, "slow_start: expected a duration");
    only_error("[upstream:u]\nservers = 1.2.3.4:80\nmax_ejection_percent = 101\n", 3, "max_ejection_percent:");
    only_error("[upstream:u]\nservers = 1.2.3.4:80\nmax_ejection_time = 25h\n", 3,
               "max_ejection_time: must be at most 24h");
    only_error("[upstream:u]\nservers = 1.2.3.4:80\neject_on_5xx = -1\n", 3, "eject_on_5xx:");
    only_error("[upstream:u]\nbalance = least_conn\n", 1, "[upstream:u] needs servers");
    only_error("[upstream:u]\nservers = ,\n", 2, "servers: lists no server");
}

TEST_CASE("config: [proxy] keys and repeated route keys") {
    Config c = ok(kProxyProgram + R"([upstream:a]
servers = 127.0.0.1:9001
[upstream:b]
servers = 127.0.0.1:9002
[proxy:public]
listen = 0.0.0.0:443
tls_cert = /etc/vigil/tls/cert.pem
tls_key = /etc/vigil/tls/key.pem
route = /auth/ a
route = /payments/ b
route = / a
rate_limit = 100/min
[proxy:internal]
listen = 127.0.0.1:8080
route = / b
rate_limit = 5/s
)");
    REQUIRE(c.proxies.size() == 2);
    const Proxy& in = c.proxies[0];
    CHECK(in.name == "internal");
    CHECK(in.listen == "127.0.0.1:8080");
    CHECK(in.tls_cert.empty());
    CHECK(in.rate_limit_per_min == 300);
    const Proxy& pub = c.proxies[1];
    CHECK(pub.name == "public");
    CHECK(pub.listen == "0.0.0.0:443");
    CHECK(pub.tls_cert == "/etc/vigil/tls/cert.pem");
    CHECK(pub.tls_key == "/etc/vigil/tls/key.pem");
    CHECK(pub.routes == std::vector<Route>{{"/auth/", "a"}, {"/payments/", "b"}, {"/", "a"}});
    CHECK(pub.rate_limit_per_min == 100);
    CHECK(pub.loc.line == 7);
}

TEST_CASE("config: [proxy] without rate_limit has none") {
    Config c = ok(kProxyProgram + "[upstream:u]\nservers = 127.0.0.1:1\n[proxy:p]\nlisten = [::]:80\nroute = / u\n");
    CHECK_FALSE(c.proxies[0].rate_limit_per_min);
    CHECK(c.proxies[0].listen == "[::]:80");
}

TEST_CASE("config: [proxy] errors") {
    const std::string up = kProxyProgram + "[upstream:u]\nservers = 127.0.0.1:1\n";  // 4 lines
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = /x nowhere\n", 7, "route: unknown upstream 'nowhere'");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = x u\n", 7, "route: expected 'route = /PREFIX UPSTREAM'");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = /x\n", 7, "route: expected 'route = /PREFIX UPSTREAM'");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = / u\nroute = / u\n", 8, "prefix '/' is routed twice");
    only_error(up + "[proxy:p]\nroute = / u\n", 5, "[proxy:p] needs listen = HOST:PORT");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\n", 5, "[proxy:p] needs at least one route");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0\nroute = / u\n", 6, "listen: missing port");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = / u\ntls_cert = /c.pem\n", 5,
               "needs both tls_cert and tls_key, or neither");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = / u\nrate_limit = 100\n", 8,
               "rate_limit: expected N/min or N/s");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = / u\nrate_limit = 0/s\n", 8,
               "rate_limit: expected N/min or N/s");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = / u\n[proxy:q]\nlisten = 0.0.0.0:80\nroute = / u\n", 9,
               "listen: '0.0.0.0:80' is also the listen address of [proxy:p]");
}

TEST_CASE("config: [proxy] mode = tcp and [upstream] role") {
    Config c = ok(kProxyProgram + R"([program:pg]
kind = redis
data_dir = /var/lib/vigil/r
address = 127.0.0.1:6379
[upstream:db]
servers = pg
role = primary
[upstream:web]
servers = 127.0.0.1:9001
[proxy:db]
mode = tcp
listen = 127.0.0.1:6380
route = db
idle_timeout = 30m
connect_timeout = 2s
[proxy:public]
listen = 127.0.0.1:80
route = / web
)");
    REQUIRE(c.proxies.size() == 2);
    const Proxy& db = c.proxies[0];
    CHECK(db.mode == ProxyMode::tcp);
    CHECK(db.routes == std::vector<Route>{{"", "db"}});
    CHECK(db.idle_timeout == std::chrono::minutes(30));
    CHECK(db.connect_timeout == std::chrono::seconds(2));
    CHECK(c.proxies[1].mode == ProxyMode::http);
    CHECK(c.proxies[1].idle_timeout == std::chrono::hours(1));
    CHECK_FALSE(c.proxies[1].connect_timeout);
    REQUIRE(c.upstreams.size() == 2);
    CHECK(c.upstreams[0].role == Role::primary);
    CHECK_FALSE(c.upstreams[1].role);
}

TEST_CASE("config: mode = tcp and role errors") {
    const std::string up = kProxyProgram + "[upstream:u]\nservers = 127.0.0.1:1\n";  // 4 lines
    only_error(up + "[proxy:p]\nmode = udp\nlisten = 0.0.0.0:80\nroute = / u\n", 6, "mode: expected http or tcp, got 'udp'");
    only_error(up + "[proxy:p]\nmode = tcp\nlisten = 0.0.0.0:80\nroute = / u\n", 8,
               "route: mode = tcp takes one route = UPSTREAM, without a path; got '/ u'");
    only_error(up + "[proxy:p]\nmode = tcp\nlisten = 0.0.0.0:80\nroute = u\nroute = u\n", 9,
               "route: mode = tcp takes exactly one route");
    only_error(up + "[proxy:p]\nmode = tcp\nlisten = 0.0.0.0:80\n", 5, "[proxy:p] needs route = UPSTREAM");
    only_error(up + "[proxy:p]\nmode = tcp\nlisten = 0.0.0.0:80\nroute = u\ntls_cert = /c\n", 9,
               "tls_cert: not with mode = tcp");
    only_error(up + "[proxy:p]\nmode = tcp\nlisten = 0.0.0.0:80\nroute = u\nrate_limit = 5/s\n", 9,
               "rate_limit: not with mode = tcp");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = / u\nconnect_timeout = 1s\n", 8,
               "connect_timeout: only with mode = tcp");
    only_error(up + "[proxy:p]\nlisten = 0.0.0.0:80\nroute = u\n", 7, "route: expected 'route = /PREFIX UPSTREAM'");
    // role: only data stores vigild runs, only behind a TCP listener.
    const std::string proc = kProxyProgram + "[program:foo]\ncommand = /bin/true\naddress = 127.0.0.1:2\n";  // 5 lines
    only_error(proc + "[upstream:x]\nservers = foo\nrole = primary\n[proxy:p]\nmode = tcp\nlisten = 0.0.0.0:80\nroute = x\n",
               8, "[upstream:x] role = primary needs servers that are kind = postgres or kind = redis programs; "
                  "'foo' is kind = process");
    only_error(kProxyProgram + "[upstream:x]\nservers = 127.0.0.1:1\nrole = replica\n[proxy:p]\nmode = tcp\n"
                               "listen = 0.0.0.0:80\nroute = x\n",
               5, "'127.0.0.1:1' is an address, not a program");
    only_error("[upstream:x]\nservers = 127.0.0.1:1\nrole = leader\n", 3,
               "role: expected primary or replica, got 'leader'");
    const std::string redis = kProxyProgram + "[program:r]\nkind = redis\ndata_dir = /var/lib/r\naddress = 127.0.0.1:2\n";  // 6 lines
    only_error(redis + "[upstream:x]\nservers = r\nrole = primary\n[proxy:p]\nlisten = 0.0.0.0:80\nroute = / x\n", 12,
               "route: [upstream:x] has role = primary: its servers speak their own protocol, so only a mode = tcp "
               "listener routes to it");
}

TEST_CASE("config: [proxy] sections need exactly one kind = proxy program") {
    only_error("[upstream:u]\nservers = 127.0.0.1:1\n[proxy:p]\nlisten = 0.0.0.0:80\nroute = / u\n", 3,
               "is served by a program with kind = proxy, and there is none");
    only_error("[program:proxy]\nkind = proxy\n", 1, "kind = proxy, but there is no [proxy:NAME] section");
    auto errs = errors("[program:p1]\nkind = proxy\n[program:p2]\nkind = proxy\n"
                       "[upstream:u]\nservers = 127.0.0.1:1\n[proxy:p]\nlisten = 0.0.0.0:80\nroute = / u\n");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].rfind("3: only one program may have kind = proxy (also [program:p1]", 0) == 0);
    only_error("[program:px]\nkind = proxy\nnumprocs = 2\nprocess_name = px%(process_num)d\n"
               "[upstream:u]\nservers = 127.0.0.1:1\n[proxy:p]\nlisten = 0.0.0.0:80\nroute = / u\n",
               1, "numprocs must be 1");
}

TEST_CASE("config: section types and names are checked") {
    only_error("[programs:a]\n", 1, "unknown section [programs:a]");
    only_error("[eventlistener:x]\nevents = TICK_5\n", 1, "[eventlistener:x] needs command");
    only_error("[program]\ncommand = a\n", 1, "[program] needs a name: [program:NAME]");
    only_error("[program:]\ncommand = a\n", 1, "invalid program name ''");
    only_error("[program:a/b]\ncommand = a\n", 1, "invalid program name 'a/b'");
    only_error("[include:x]\nfiles = a\n", 1, "[include] takes no name");
}

TEST_CASE("config: section names keep their case and surrounding spaces are trimmed") {
    Config c = ok("[program: Web ]\ncommand = w\n[program:web]\ncommand = x\n");
    CHECK(names(c) == std::vector<std::string>{"Web", "web"});
}

TEST_CASE("config: a repeated section merges into the first, as in supervisord") {
    LoadResult r = load("[program:a]\ncommand = a\n[vigil]\n[program:a]\ncommand = b\npriority = 3\n"
                        "[vigil]\nlog_level = debug\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    REQUIRE(r.config->programs.size() == 1);
    CHECK(r.config->programs[0].command == "b");
    CHECK(r.config->programs[0].priority == 3);
    CHECK(r.config->programs[0].loc.line == 1);
    CHECK(r.config->daemon.log_level == "debug");
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].loc.line == 5);
}
