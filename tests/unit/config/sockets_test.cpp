// `sockets =` and [fcgi-program:x] socket =: what vigild will bind for a program.
#include "helpers.hpp"

using namespace cfgtest;

TEST_CASE("config: sockets are canonical tcp:// and unix:// addresses with supervisord's defaults") {
    Config c = ok("[program:a]\ncommand = a\nsockets = tcp://127.0.0.1:8080, tcp://[::1]:8081\n"
                  "  unix:///run/a.sock\nsocket_owner = www-data:www-data\nsocket_backlog = 64\n");
    const Program& a = get(c, "a");
    CHECK(a.sockets == std::vector<std::string>{"tcp://127.0.0.1:8080", "tcp://[::1]:8081", "unix:///run/a.sock"});
    CHECK(a.socket_owner == "www-data:www-data");
    CHECK(a.socket_mode == 0700);
    CHECK(a.socket_backlog == 64);
    CHECK_FALSE(a.socket_on_stdin);
    CHECK(get(ok("[program:a]\ncommand = a\nsockets = tcp://*:80\n"), "a").sockets ==
          std::vector<std::string>{"tcp://*:80"});
}

TEST_CASE("config: a bad socket address is refused at its line") {
    only_error("[program:a]\ncommand = a\nsockets = tcp://127.0.0.1\n", 3, "sockets: missing port");
    only_error("[program:a]\ncommand = a\nsockets = udp://127.0.0.1:53\n", 3,
               "sockets: expected tcp://HOST:PORT or unix:///PATH");
    only_error("[program:a]\ncommand = a\nsockets = unix://run/a.sock\n", 3, "expected unix:///ABSOLUTE/PATH");
    only_error("[program:a]\ncommand = a\nsockets = unix:///" + std::string(120, 'x') + "\n", 3,
               "socket path is longer than 107 bytes");
    only_error("[program:a]\ncommand = a\nsockets = tcp://127.0.0.1:1 tcp://127.0.0.1:1\n", 3, "listed twice");
    only_error("[program:a]\ncommand = a\nsockets = tcp://127.0.0.1:1\nsocket_mode = 0999\n", 4,
               "socket_mode: expected an octal mode");
}

TEST_CASE("config: [fcgi-program:x] is a program with one socket on fd 0") {
    Config c = ok("[fcgi-program:php]\ncommand = php-cgi\nsocket = unix:///run/php.sock\nsocket_mode = 0660\n"
                  "numprocs = 2\nprocess_name = %(program_name)s_%(process_num)d\n");
    REQUIRE(c.programs.size() == 2);
    for (const auto& p : c.programs) {
        CHECK(p.program == "php");
        CHECK(p.sockets == std::vector<std::string>{"unix:///run/php.sock"});
        CHECK(p.socket_on_stdin);
        CHECK(p.socket_mode == 0660);
    }
    only_error("[fcgi-program:php]\ncommand = php-cgi\n", 1, "needs socket = ");
    only_error("[fcgi-program:php]\ncommand = php-cgi\nsocket = tcp://127.0.0.1:1 tcp://127.0.0.1:2\n", 3,
               "expected one tcp://HOST:PORT");
}
