// `vigilctl -c FILE` while FILE has errors (issue 14, item 4): an operator
// mid-edit must still see and stop things, is told the file is broken, and
// `update` refuses it with "nothing changed" and exit 1.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace vigil::test;

namespace {

std::string program(const std::string& name) {
    return "[program:" + name + "]\ncommand = " + child_path() + "\nstartsecs = 0\n\n";
}

int ctl_c(const Vigild& v, const std::vector<std::string>& args, std::string* out) {
    std::vector<std::string> argv{VIGILCTL_PATH, "-c", v.config_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, out);
}

}  // namespace

TEST_CASE("ctl config: -c FILE with errors still reaches vigild, update refuses it", "[control]") {
    Vigild v(program("alpha") + program("beta"));
    v.start();
    REQUIRE(v.expect("beta: STARTING -> RUNNING"));
    std::string out;
    REQUIRE(v.ctl({"pid", "alpha"}, &out) == 0);
    const std::string alpha_pid = out;

    // Mid-edit: a bad value in a program, a line that is no INI at all, and
    // an unknown key in [vigil] itself, ahead of control_socket.
    const std::string good = read_file(v.config_path());
    std::string broken = good;
    broken.replace(broken.find("[vigil]\n"), 8, "[vigil]\nsocket_mode = 0660\n");
    broken += "[program:gamma]\ncommand = " + child_path() + "\nstartsecs = banana\nthis line is not ini\n";
    write_file(v.config_path(), broken);

    CHECK(ctl_c(v, {"status"}, &out) == 0);
    INFO(out);
    CHECK(std::regex_search(out, std::regex("alpha +RUNNING +pid")));
    CHECK(out.find(v.config_path() + " has errors") != std::string::npos);
    CHECK(std::regex_search(out, std::regex(std::regex_replace(v.config_path(), std::regex("[.]"), "[.]") +
                                            ":[0-9]+: .*startsecs")));
    CHECK(out.find("using control socket " + v.socket_path()) != std::string::npos);

    CHECK(ctl_c(v, {"stop", "beta"}, &out) == 0);
    CHECK(out.find("beta: stopped") != std::string::npos);

    CHECK(ctl_c(v, {"update"}, &out) == 1);
    CHECK(out.find("nothing changed") != std::string::npos);
    CHECK(ctl_c(v, {"reload"}, &out) == 1);
    CHECK(out.find("nothing changed") != std::string::npos);
    REQUIRE(v.ctl({"pid", "alpha"}, &out) == 0);
    CHECK(out == alpha_pid);
    CHECK(v.ctl({"status", "gamma"}, &out) == 2);  // never added

    // Fixed again: no warning.
    write_file(v.config_path(), good);
    CHECK(ctl_c(v, {"status", "alpha"}, &out) == 0);
    CHECK(out.find("has errors") == std::string::npos);
}

TEST_CASE("ctl config: an unreadable -c FILE falls back to the default socket and says so", "[control]") {
    TempDir d;
    std::string out;
    const int rc = run({VIGILCTL_PATH, "-c", d / "missing.ini", "status"}, &out);
    INFO(out);
    CHECK(rc == 4);
    CHECK(out.find(d / "missing.ini") != std::string::npos);
    CHECK(out.find("cannot read config file") != std::string::npos);
    CHECK(out.find("using control socket /run/vigil/vigil.sock") != std::string::npos);
}
