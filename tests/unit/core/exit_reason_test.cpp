#include <catch2/catch.hpp>

#include "supervisor/core/exit_reason.hpp"

using vigil::core::OutputTail;
using vigil::core::strip_log_prefix;

TEST_CASE("exit reason: postgres port in use names the bind error, not the last line", "[exit_reason]") {
    OutputTail t;
    t.feed(1, "Success. You can now start the database server using:\n\n    pg_ctl -D /x start\n");
    t.feed(2,
           "2026-11-22 05:13:12.970 UTC [25836] LOG:  starting PostgreSQL 15.20 (Debian 15.20-0+deb12u1)\n"
           "2026-11-22 05:13:12.972 UTC [25836] LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use\n"
           "2026-11-22 05:13:12.972 UTC [25836] HINT:  Is another postmaster already running on port 45432?\n"
           "2026-11-22 05:13:12.972 UTC [25836] WARNING:  could not create listen socket for \"127.0.0.1\"\n"
           "2026-11-22 05:13:12.972 UTC [25836] FATAL:  could not create any TCP/IP sockets\n"
           "2026-11-22 05:13:12.984 UTC [25836] LOG:  database system is shut down\n");
    CHECK(t.reason() == "could not bind IPv4 address \"127.0.0.1\": Address already in use");
}

TEST_CASE("exit reason: redis port in use, from stdout", "[exit_reason]") {
    OutputTail t;
    t.feed(1, "25834:C 22 Nov 2026 05:13:13.174 # Configuration loaded\n"
              "25834:M 22 Nov 2026 05:13:13.177 # Warning: Could not create server TCP listening socket "
              "127.0.0.1:46379: bind: Address already in use\n"
              "25834:M 22 Nov 2026 05:13:13.177 # Failed listening on port 46379 (TCP), aborting.\n");
    CHECK(t.reason() ==
          "Warning: Could not create server TCP listening socket 127.0.0.1:46379: bind: Address already in use");
}

TEST_CASE("exit reason: a wrapper's vigil error line wins over everything", "[exit_reason]") {
    OutputTail t;
    t.feed(2, "vigil: /srv/pg has no PG_VERSION: initialising it\n");
    t.feed(2, "vigil: error: data_dir /srv/pg is owned by root, not postgres\n");
    t.feed(2, "install: cannot change permissions of '/srv/pg': Operation not permitted\n");
    CHECK(t.reason() == "vigil: error: data_dir /srv/pg is owned by root, not postgres");
}

TEST_CASE("exit reason: pieces, partial last line, CR and stdout chatter", "[exit_reason]") {
    OutputTail t;
    CHECK(t.reason().empty());
    t.feed(1, "GET / 200\nGET /x 200\n");
    CHECK(t.reason().empty());  // stdout without an error word explains nothing
    t.feed(2, "boom: some");
    t.feed(2, "thing\r\n");
    CHECK(t.reason() == "boom: something");
    t.feed(2, "panic: half a li");
    CHECK(t.reason() == "panic: half a li");
    t.clear();
    CHECK(t.reason().empty());
}

TEST_CASE("exit reason: long lines are cut, control characters blanked", "[exit_reason]") {
    OutputTail t;
    t.feed(2, "error: " + std::string(1000, 'x') + "\n");
    const auto r = t.reason(50);
    CHECK(r.size() == 50);
    CHECK(r.substr(47) == "...");
    OutputTail u;
    u.feed(2, "error:\tbad\x1b[0m\n");
    CHECK(u.reason() == "error: bad [0m");
}

TEST_CASE("exit reason: only the last lines are kept", "[exit_reason]") {
    OutputTail t;
    t.feed(2, "fatal: old problem\n");
    for (std::size_t i = 0; i < OutputTail::kMaxLines; ++i) t.feed(2, "line " + std::to_string(i) + "\n");
    CHECK(t.reason() == "line " + std::to_string(OutputTail::kMaxLines - 1));
}

TEST_CASE("exit reason: log prefixes of postgres and redis are stripped", "[exit_reason]") {
    CHECK(strip_log_prefix("2026-11-22 05:13:12.972 UTC [25836] FATAL:  could not create any TCP/IP sockets") ==
          "FATAL: could not create any TCP/IP sockets");
    CHECK(strip_log_prefix("2026-11-22 05:13:12.972 UTC [1] LOG:  x") == "x");
    CHECK(strip_log_prefix("7:M 01 Jan 2024 12:00:00.123 * Ready to accept connections") ==
          "Ready to accept connections");
    CHECK(strip_log_prefix("  plain text  ") == "plain text");
    CHECK(strip_log_prefix("2024-01-01T12:00:00.000Z info started") == "2024-01-01T12:00:00.000Z info started");
}
