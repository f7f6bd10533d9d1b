// vigilctl's interactive shell on a real terminal (a pty from script(1),
// util-linux, Essential in Debian): Tab completion lists each name once, an
// unknown command gets one line.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "harness.hpp"

using namespace vigil::test;

namespace {

// Types `keys` into `vigilctl -s SOCKET` on a terminal; returns everything shown.
std::string type_into_shell(const Vigild& v, const std::string& keys) {
    REQUIRE(::access("/usr/bin/script", X_OK) == 0);
    write_file(v.dir() / "keys", keys);
    std::string out;
    run({"sh", "-c",
                        "HOME=" + v.dir().path() + " TERM=dumb script -qec '" + std::string(VIGILCTL_PATH) + " -s " +
                            v.socket_path() + "' /dev/null < " + (v.dir() / "keys")},
                       &out);
    return out;
}

std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("shell: Tab completion lists each process and GROUP:* once", "[control][shell]") {
    Vigild v("[program:service-a]\ncommand = " + child_path() +
             "\nnumprocs = 3\nprocess_name = service-a-%(process_num)d\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("service-a-2: STARTING -> RUNNING"));
    // Two Tabs after "serv": the shell lists the candidates.
    const std::string out = type_into_shell(v, "pid serv\t\t\nquit\n");
    INFO(out);
    CHECK(count(out, "service-a:*") == 1);
    CHECK(count(out, "service-a-0") >= 1);
}

TEST_CASE("shell: an unknown command gets one line, not the usage", "[control][shell]") {
    Vigild v("[program:a]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    REQUIRE(v.expect("a: STARTING -> RUNNING"));
    const std::string out = type_into_shell(v, "frobnicate\nquit\n");
    INFO(out);
    CHECK(out.find("vigilctl: unknown command 'frobnicate', try help") != std::string::npos);
    CHECK(out.find("usage:") == std::string::npos);
}
