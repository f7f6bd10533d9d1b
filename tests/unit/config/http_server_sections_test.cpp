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
    only_error("[inet_http_server]\nport = 10.0.0.1:9001\nusername = u\n", 2, "needs username and password");
    only_error("[inet_http_server]\nport = 127.0.0.1:99999\n", 2, "expected [host:]port");
    only_error("[inet_http_server]\nusername = u\n", 1, "needs port");
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
