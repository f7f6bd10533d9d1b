#include "helpers.hpp"

using namespace cfgtest;

namespace {
const std::string kRpc =
    "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n";
}

TEST_CASE("config: [unix_http_server] file is the control socket unless [vigil] names one") {
    Config c = ok("[unix_http_server]\nfile = /tmp/s.sock\nchmod = 0770\nchown = nobody:nogroup\n" + kRpc);
    CHECK(c.daemon.control_socket == "/tmp/s.sock");
    CHECK(c.daemon.http.socket_mode == 0770u);
    CHECK(c.daemon.http.socket_owner == "nobody");
    CHECK(c.daemon.http.socket_owner_group == "nogroup");
    c = ok("[unix_http_server]\nfile = /tmp/s.sock\n[vigil]\ncontrol_socket = /tmp/v.sock\n");
    CHECK(c.daemon.control_socket == "/tmp/v.sock");
    only_error("[unix_http_server]\nchmod = 0999\n", 2, "expected an octal mode such as 0700, got '0999'");
}

TEST_CASE("config: [inet_http_server] needs credentials except on a loopback address") {
    Config c = ok("[inet_http_server]\nport = 127.0.0.1:9001\n");
    CHECK(c.daemon.http.inet);
    CHECK(c.daemon.http.inet_host == "127.0.0.1");
    CHECK(c.daemon.http.inet_port == 9001);
    c = ok("[inet_http_server]\nport = *:9001\nusername = u\npassword = {SHA}a94a8fe5ccb19ba61c4c0873d391e987982fbbd3\n");
    CHECK(c.daemon.http.inet_host.empty());
    CHECK(c.daemon.http.inet_auth.username == "u");
    only_error("[inet_http_server]\nport = 9001\n", 2, "listening on every address needs username and password");
    only_error("[inet_http_server]\nport = 10.0.0.1:9001\nusername = u\n", 3,
               "has a username but no password: set both");
    only_error("[inet_http_server]\nport = 127.0.0.1:99999\n", 2, "expected [host:]port");
    only_error("[inet_http_server]\nusername = u\npassword = p\n", 1, "needs port");
}

TEST_CASE("config: [supervisorctl] serverurl names vigilctl's socket when [vigil] does not") {
    Config c = ok("[supervisorctl]\nserverurl = unix:///tmp/x.sock\nusername = u\npassword = p\nprompt = hi\n"
                  "history_file = ~/.h\n");
    CHECK(c.daemon.http.ctl_socket == "/tmp/x.sock");
    c = ok("[supervisorctl]\nserverurl = unix:///tmp/x.sock\n[vigil]\ncontrol_socket = /tmp/v.sock\n");
    CHECK(c.daemon.http.ctl_socket.empty());
    only_error("[supervisorctl]\nserverurl = ftp://x\n", 2, "expected unix:///path or http://host:port");
}

TEST_CASE("config: only supervisord's own rpcinterface factory is served") {
    ok(kRpc);
    only_error("[rpcinterface:twiddler]\nsupervisor.rpcinterface_factory = supervisor_twiddler.rpcinterface:make_twiddler_rpcinterface\n",
               1, "vigil serves supervisord's own interface only");
}

TEST_CASE("config: a server section with a username and no password is refused, as supervisord does") {
    only_error("[unix_http_server]\nfile = /tmp/s.sock\nusername = u\n", 3, "[unix_http_server] has a username but no password");
    only_error("[unix_http_server]\nfile = /tmp/s.sock\npassword = p\n", 3, "a password but no username");
    only_error("[inet_http_server]\nport = 127.0.0.1:9001\npassword = p\n", 3, "[inet_http_server] has a password");
    Config c = ok("[unix_http_server]\nfile = /tmp/s.sock\nusername = u\npassword = {SHA}ab\n");
    CHECK(c.daemon.http.unix_auth.username == "u");
}

TEST_CASE("config: [supervisorctl] serverurl = http://host:port is where vigilctl connects") {
    Config c = ok("[supervisorctl]\nserverurl = http://127.0.0.1:9001\nusername = u\npassword = p\n");
    CHECK(c.daemon.http.ctl_host == "127.0.0.1");
    CHECK(c.daemon.http.ctl_port == 9001);
    CHECK(c.daemon.http.ctl_socket.empty());
    CHECK(c.daemon.http.ctl_auth.username == "u");
    CHECK(c.daemon.http.ctl_auth.password == "p");
    c = ok("[supervisorctl]\nserverurl = http://localhost/RPC2\n");
    CHECK(c.daemon.http.ctl_host == "localhost");
    CHECK(c.daemon.http.ctl_port == 80);
    c = ok("[supervisorctl]\nserverurl = http://[::1]:9001\n");
    CHECK(c.daemon.http.ctl_host == "::1");
    CHECK(c.daemon.http.ctl_port == 9001);
    // [vigil] control_socket wins over any serverurl.
    c = ok("[supervisorctl]\nserverurl = http://127.0.0.1:9001\n[vigil]\ncontrol_socket = /tmp/v.sock\n");
    CHECK(c.daemon.http.ctl_port == 0);
    only_error("[supervisorctl]\nserverurl = http://h:0\n", 2, "expected http://host:port");
    only_error("[supervisorctl]\nserverurl = http://\n", 2, "expected http://host:port");
}

TEST_CASE("config: SUPERVISOR_SERVER_URL follows supervisord's rule") {
    // [unix_http_server] first, as supervisord prefers the Unix socket.
    Config c = ok("[unix_http_server]\nfile = /tmp/s.sock\n[inet_http_server]\nport = 127.0.0.1:9001\n");
    CHECK(children_server_url(c.daemon) == "unix:///tmp/s.sock");
    // Only [inet_http_server]: its URL, `localhost` for every address.
    c = ok("[inet_http_server]\nport = 127.0.0.1:9001\n");
    CHECK(children_server_url(c.daemon) == "http://127.0.0.1:9001");
    c = ok("[inet_http_server]\nport = *:9001\nusername = u\npassword = p\n");
    CHECK(children_server_url(c.daemon) == "http://localhost:9001");
    // Neither: vigild's control socket (supervisord would set none).
    c = ok("[vigil]\ncontrol_socket = /tmp/v.sock\n");
    CHECK(children_server_url(c.daemon) == "unix:///tmp/v.sock");
}

TEST_CASE("config: a program's serverurl overrides SUPERVISOR_SERVER_URL, AUTO is the default") {
    Config c = ok("[program:a]\ncommand = x\nserverurl = http://127.0.0.1:9002\n[program:b]\ncommand = x\n"
                  "serverurl = auto\n");
    REQUIRE(c.find("a"));
    CHECK(c.find("a")->serverurl == "http://127.0.0.1:9002");
    CHECK(c.find("b")->serverurl.empty());
}

TEST_CASE("config: [ctlplugin:x] is supervisorctl's, accepted with a warning") {
    LoadResult r = load("[ctlplugin:wildcards]\nsupervisor.ctl_factory = wildcards.controllerplugin:make\nmatch = *\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].loc.line == 1);
    CHECK(r.warnings[0].message.find("[ctlplugin:wildcards] has no effect in vigil") != std::string::npos);
}
