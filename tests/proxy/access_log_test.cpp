// The access log's line format (formatted by hand, not snprintf) and its
// bounds, read back through a pipe.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <string>

#include "proxy/access_log.hpp"

using vigil::proxy::AccessLog;

namespace {
std::string drain(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}
}  // namespace

TEST_CASE("access log: one line per request in the documented format", "[accesslog]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    {
        AccessLog log(fds[1]);
        log.set_time(86400 + 3661);
        AccessLog::Entry e;
        e.listener = "public";
        e.client = "127.0.0.1";
        e.method = "GET";
        e.target = "/hello?x=1";
        e.status = 200;
        e.bytes = 88;
        e.seconds = 0.000297;
        e.pool = "web";
        e.upstream = "127.0.0.1:18081";
        e.tries = 1;
        e.request_id = "c77fd5341d61158c0000000000000001";
        log.write(e);
        AccessLog::Entry f;
        f.listener = "tls";
        f.client = "::1";
        f.method = "POST";
        f.target = std::string_view("/p");
        f.version_minor = 0;
        f.status = 502;
        f.bytes = 0;
        f.seconds = 12.5;
        f.tries = 3;
        f.request_id = "r";
        log.write(f);
        const std::string long_target = "/" + std::string(2000, 'a');
        AccessLog::Entry g = f;
        g.target = long_target;
        g.seconds = 1.0000004;
        log.write(g);
        log.flush();
    }
    ::close(fds[1]);
    const std::string out = drain(fds[0]);
    ::close(fds[0]);
    const std::string l1 = "1970-01-02T01:01:01Z public 127.0.0.1 \"GET /hello?x=1 HTTP/1.1\" 200 88 0.000297 pool=web "
                           "upstream=127.0.0.1:18081 tries=1 rid=c77fd5341d61158c0000000000000001\n";
    const std::string l2 = "1970-01-02T01:01:01Z tls ::1 \"POST /p HTTP/1.0\" 502 0 12.500000 pool=- upstream=- tries=3 rid=r\n";
    const std::string l3 = "1970-01-02T01:01:01Z tls ::1 \"POST /" + std::string(511, 'a') +
                           " HTTP/1.0\" 502 0 1.000000 pool=- upstream=- tries=3 rid=r\n";
    CHECK(out == l1 + l2 + l3);
}

TEST_CASE("access log: client-controlled text cannot forge fields", "[accesslog]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    {
        AccessLog log(fds[1]);
        log.set_time(86400);
        AccessLog::Entry e;
        e.listener = "public";
        e.client = "127.0.0.1";
        e.method = "GET";
        e.target = "/a\" 200 1 0.1 pool=x\\\x7f\xc3\xa9";
        e.status = 404;
        e.request_id = "id\" tries=9";
        log.write(e);
        const std::string huge(600, '"');  // every byte escaped: the line still fits
        e.target = huge;
        log.write(e);
        log.flush();
    }
    ::close(fds[1]);
    const std::string out = drain(fds[0]);
    ::close(fds[0]);
    const std::string l1 = "1970-01-02T00:00:00Z public 127.0.0.1 \"GET /a\\x22 200 1 0.1 pool=x\\x5C\\x7F\\xC3\\xA9 "
                           "HTTP/1.1\" 404 0 0.000000 pool=- upstream=- tries=0 rid=id\\x22 tries=9\n";
    REQUIRE(out.size() > l1.size());
    CHECK(out.substr(0, l1.size()) == l1);
    std::string esc;
    for (int i = 0; i < 512; ++i) esc += "\\x22";
    CHECK(out.find("\"GET " + esc + " HTTP/1.1\" 404") != std::string::npos);
}
