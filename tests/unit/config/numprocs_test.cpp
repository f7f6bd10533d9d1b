#include "helpers.hpp"

using namespace cfgtest;

TEST_CASE("config: numprocs makes one program per process with expanded names") {
    Config c = ok(R"([program:worker]
command = /usr/bin/worker --id %(process_num)d --of %(numprocs)d
numprocs = 3
process_name = %(program_name)s_%(process_num)02d
address = 127.0.0.1:90%(process_num)02d
stdout_logfile = /var/log/%(program_name)s-%(process_num)d.log
)");
    REQUIRE(names(c) == std::vector<std::string>{"worker_00", "worker_01", "worker_02"});
    for (int i = 0; i < 3; ++i) {
        const Program& p = c.programs[static_cast<std::size_t>(i)];
        CHECK(p.program == "worker");
        CHECK(p.process_num == i);
        CHECK(p.numprocs == 3);
        CHECK(p.command == "/usr/bin/worker --id " + std::to_string(i) + " --of 3");
        CHECK(p.address == "127.0.0.1:900" + std::to_string(i));
        CHECK(p.stdout_log.path == "/var/log/worker-" + std::to_string(i) + ".log");
        CHECK(p.stderr_log.path == "/var/log/vigil/" + p.name + ".err.log");  // AUTO uses the process name
        CHECK(p.loc.line == 1);
    }
}

TEST_CASE("config: numprocs_start shifts process_num") {
    Config c = ok("[program:w]\ncommand = w\nnumprocs = 2\nnumprocs_start = 5\nprocess_name = w%(process_num)d\n");
    CHECK(names(c) == std::vector<std::string>{"w5", "w6"});
    CHECK(get(c, "w5").process_num == 5);
    CHECK(get(c, "w6").process_num == 6);
}

TEST_CASE("config: process_name defaults to the program name") {
    Config c = ok("[program:solo]\ncommand = s\nnumprocs_start = 4\n");
    CHECK(names(c) == std::vector<std::string>{"solo"});
    CHECK(get(c, "solo").process_num == 4);
}

TEST_CASE("config: process_name can rename a single process") {
    Config c = ok("[program:a]\ncommand = s\nprocess_name = alpha\n");
    CHECK(names(c) == std::vector<std::string>{"alpha"});
    CHECK(get(c, "alpha").program == "a");
}

TEST_CASE("config: numprocs > 1 needs %(process_num) in process_name, like supervisord") {
    only_error("[program:w]\ncommand = w\nnumprocs = 2\n", 3,
               "process_name: must contain %(process_num)d when numprocs > 1");
    only_error("[program:w]\ncommand = w\nprocess_name = fixed\nnumprocs = 2\n", 3,
               "process_name: must contain %(process_num)d");
}

TEST_CASE("config: a bad value in a numprocs program is reported once, not per process") {
    auto errs = errors("[program:w]\ncommand = w\nnumprocs = 5\nprocess_name = w%(process_num)d\nstartsecs = x\n");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].rfind("5: startsecs:", 0) == 0);
}

TEST_CASE("config: duplicate process names across programs are errors") {
    auto errs = errors(R"([program:a]
command = a
numprocs = 2
process_name = x%(process_num)d
[program:b]
command = b
process_name = x1
)");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0] == "7: duplicate process name 'x1' (also made by [program:a] at /etc/vigil/vigil.ini:1)");
}

TEST_CASE("config: a program named like another's process is a duplicate") {
    auto errs = errors("[program:web]\ncommand = a\nprocess_name = api\n[program:api]\ncommand = b\n");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].rfind("4: duplicate process name 'api'", 0) == 0);
}

TEST_CASE("config: two processes with the same address are an error") {
    auto errs = errors("[program:w]\ncommand = w\nnumprocs = 2\nprocess_name = w%(process_num)d\n"
                       "address = 127.0.0.1:8000\n");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0] == "5: address: '127.0.0.1:8000' is also the address of w0");
}

TEST_CASE("config: a bad process_name is one error, not also duplicate names") {
    only_error("[program:w]\ncommand = w\nnumprocs = 3\nprocess_name = %(nope)s_%(process_num)d\n", 4,
               "process_name: unknown expansion %(nope)s");
}
