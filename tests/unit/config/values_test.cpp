#include "config/values.hpp"

#include "helpers.hpp"

using namespace cfgtest;

namespace {

HealthCheck hc(std::string_view text) {
    std::string error;
    auto h = parse_healthcheck(text, error);
    INFO(text << ": " << error);
    REQUIRE(h);
    return *h;
}

std::string hc_error(std::string_view text) {
    std::string error;
    auto h = parse_healthcheck(text, error);
    INFO(text);
    REQUIRE_FALSE(h);
    return error;
}

}  // namespace

TEST_CASE("config: healthcheck http and https URLs") {
    HealthCheck h = hc("http://127.0.0.1:8080/health");
    CHECK(h.kind == HealthKind::http);
    CHECK(h.target == "http://127.0.0.1:8080/health");
    CHECK(h.host == "127.0.0.1");
    CHECK(h.port == 8080);
    CHECK(h.path == "/health");

    h = hc("https://localhost:8443");
    CHECK(h.kind == HealthKind::https);
    CHECK(h.host == "localhost");
    CHECK(h.port == 8443);
    CHECK(h.path == "/");

    h = hc("http://[::1]:80/a/b?x=1#frag");
    CHECK(h.host == "::1");
    CHECK(h.port == 80);
    CHECK(h.path == "/a/b?x=1");

    CHECK(hc("http://h:1?q").path == "/?q");
}

TEST_CASE("config: healthcheck tcp, redis and postgres URLs") {
    HealthCheck t = hc("tcp://10.0.0.1:6379");
    CHECK(t.kind == HealthKind::tcp);
    CHECK(t.host == "10.0.0.1");
    CHECK(t.port == 6379);

    HealthCheck r = hc("redis://127.0.0.1:6380/");
    CHECK(r.kind == HealthKind::redis);
    CHECK(r.port == 6380);

    HealthCheck p = hc("postgres://app@127.0.0.1:5433/payments");
    CHECK(p.kind == HealthKind::postgres);
    CHECK(p.user == "app");
    CHECK(p.host == "127.0.0.1");
    CHECK(p.port == 5433);
    CHECK(p.database == "payments");

    HealthCheck q = hc("postgresql://127.0.0.1:5432");
    CHECK(q.kind == HealthKind::postgres);
    CHECK(q.user.empty());
    CHECK(q.database.empty());
}

TEST_CASE("config: healthcheck exec commands") {
    HealthCheck e = hc("exec:/usr/bin/pg_isready -h 127.0.0.1");
    CHECK(e.kind == HealthKind::exec);
    CHECK(e.target == "/usr/bin/pg_isready -h 127.0.0.1");
    CHECK(e.port == 0);
    CHECK(hc_error("exec:") == "exec: needs a command, e.g. exec:/usr/bin/check");
    CHECK(hc_error("exec:sh -c 'open").find("unterminated") != std::string::npos);
}

TEST_CASE("config: healthcheck refuses unknown schemes, missing ports and junk") {
    CHECK(hc_error("ftp://h:21").find("unknown healthcheck scheme 'ftp'") == 0);
    CHECK(hc_error("localhost:80").find("expected http://") == 0);
    CHECK(hc_error("http://localhost/health") == "missing port in 'http://localhost/health'");
    CHECK(hc_error("tcp://h") == "missing port in 'tcp://h'");
    CHECK(hc_error("tcp://h:0").find("expected host:port") == 0);
    CHECK(hc_error("tcp://h:70000").find("expected host:port") == 0);
    CHECK(hc_error("tcp://:80").find("expected host:port") == 0);
    CHECK(hc_error("http://").find("missing port") == 0);
    CHECK(hc_error("tcp://h:1/path").find("a path is not meaningful") == 0);
    CHECK(hc_error("redis://:secret@h:6379").find("a user name is only meaningful in postgres://") == 0);
    CHECK(hc_error("postgres://u:pw@h:5432/db").find("passwords are not accepted") == 0);
    CHECK(hc_error("postgres://u@h:5432/db/x").find("expected postgres://") == 0);
    CHECK(hc_error("http://h:80/a b").find("spaces are not allowed") == 0);
}

TEST_CASE("config: healthcheck errors in a program carry its line") {
    only_error("[program:a]\ncommand = a\nhealthcheck = gopher://x:70\n", 3,
               "healthcheck: unknown healthcheck scheme 'gopher'");
}

TEST_CASE("config: host:port parsing") {
    std::string error;
    auto hp = parse_host_port("example.com:443", error);
    REQUIRE(hp);
    CHECK(hp->host == "example.com");
    CHECK(hp->port == 443);
    hp = parse_host_port("[2001:db8::1]:8080", error);
    REQUIRE(hp);
    CHECK(hp->host == "2001:db8::1");
    CHECK(hp->port == 8080);
    for (const char* bad : {"", ":80", "host", "host:", "host:+80", "host:-1", "ho st:80", "[::1]80", "[zz]:80",
                            "host:65536", "a/b:80"}) {
        INFO(bad);
        CHECK_FALSE(parse_host_port(bad, error));
    }
}

TEST_CASE("config: list splitting accepts spaces and commas") {
    CHECK(split_list("a b,c ,, d\t e") == std::vector<std::string>{"a", "b", "c", "d", "e"});
    CHECK(split_list("  ").empty());
}

TEST_CASE("config: rate limits convert to per minute") {
    std::string error;
    CHECK(parse_rate_limit("100/min", error) == 100);
    CHECK(parse_rate_limit(" 2/s ", error) == 120);
    CHECK_FALSE(parse_rate_limit("10/h", error));
    CHECK_FALSE(parse_rate_limit("/s", error));
    CHECK_FALSE(parse_rate_limit("99999999999/s", error));
}

TEST_CASE("config: umask is octal") {
    std::string error;
    CHECK(parse_umask("022", error) == 022u);
    CHECK(parse_umask("0o077", error) == 077u);
    CHECK(parse_umask("0", error) == 0u);
    CHECK_FALSE(parse_umask("8", error));
    CHECK_FALSE(parse_umask("1777", error));
    CHECK_FALSE(parse_umask("", error));
}
