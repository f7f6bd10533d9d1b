#include <catch2/catch.hpp>

#include <csignal>

#include "config/units.hpp"

using namespace vigil::config;
using std::chrono::milliseconds;

TEST_CASE("config: durations with units") {
    CHECK(parse_duration("250ms") == milliseconds(250));
    CHECK(parse_duration("1s") == milliseconds(1000));
    CHECK(parse_duration("2m") == milliseconds(120000));
    CHECK(parse_duration("1h") == milliseconds(3600000));
    CHECK(parse_duration("1m30s") == milliseconds(90000));
    CHECK(parse_duration("1h2m3s4ms") == milliseconds(3723004));
    CHECK(parse_duration("1.5s") == milliseconds(1500));
    CHECK(parse_duration("0s") == milliseconds(0));
    CHECK(parse_duration("  10s  ") == milliseconds(10000));
}

TEST_CASE("config: a bare duration is seconds, as supervisord's startsecs") {
    CHECK(parse_duration("10") == milliseconds(10000));
    CHECK(parse_duration("0") == milliseconds(0));
    CHECK(parse_duration("0.25") == milliseconds(250));
}

TEST_CASE("config: malformed durations are refused") {
    for (const char* bad : {"", " ", "s", "ms", "-1s", "1x", "1S", "10 s", "1s1m", "1s1s", "1m30", "1.2.3s", ".s",
                            "1ms1s", "abc", "9999999999999h"}) {
        INFO(bad);
        CHECK_FALSE(parse_duration(bad));
    }
}

TEST_CASE("config: sizes are 1024-based, bare numbers are bytes") {
    CHECK(parse_size("0") == 0u);
    CHECK(parse_size("100") == 100u);
    CHECK(parse_size("1K") == 1024u);
    CHECK(parse_size("1KB") == 1024u);
    CHECK(parse_size("512M") == 512ull << 20);
    CHECK(parse_size("50MB") == 50ull << 20);
    CHECK(parse_size("2G") == 2ull << 30);
    CHECK(parse_size("2GB") == 2ull << 30);
    CHECK(parse_size("4mb") == 4ull << 20);
}

TEST_CASE("config: malformed sizes are refused") {
    for (const char* bad : {"", "M", "1T", "1.5G", "-1", "1 M B", "99999999999999999999", "17179869184G"}) {
        INFO(bad);
        CHECK_FALSE(parse_size(bad));
    }
}

TEST_CASE("config: booleans accept supervisord's spellings") {
    for (const char* t : {"true", "TRUE", "yes", "on", "1", "True"}) CHECK(parse_bool(t) == true);
    for (const char* f : {"false", "no", "off", "0", "FALSE"}) CHECK(parse_bool(f) == false);
    CHECK_FALSE(parse_bool("2"));
    CHECK_FALSE(parse_bool("maybe"));
    CHECK_FALSE(parse_bool(""));
}

TEST_CASE("config: signals by name, SIG name or number") {
    CHECK(parse_signal("TERM") == SIGTERM);
    CHECK(parse_signal("SIGTERM") == SIGTERM);
    CHECK(parse_signal("int") == SIGINT);
    CHECK(parse_signal("QUIT") == SIGQUIT);
    CHECK(parse_signal("KILL") == SIGKILL);
    CHECK(parse_signal("HUP") == SIGHUP);
    CHECK(parse_signal("USR1") == SIGUSR1);
    CHECK(parse_signal("SIGUSR2") == SIGUSR2);
    CHECK(parse_signal("9") == 9);
    CHECK(parse_signal("15") == 15);
    CHECK_FALSE(parse_signal("0"));
    CHECK_FALSE(parse_signal("999"));
    CHECK_FALSE(parse_signal("SIG"));
    CHECK_FALSE(parse_signal("TERMINATE"));
    CHECK_FALSE(parse_signal(""));
}

TEST_CASE("config: signal names round-trip") {
    CHECK(signal_name(SIGTERM) == "TERM");
    CHECK(signal_name(SIGKILL) == "KILL");
    CHECK(signal_name(SIGUSR2) == "USR2");
    CHECK(signal_name(0).empty());
    for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGWINCH})
        CHECK(parse_signal(signal_name(sig)) == sig);
}
