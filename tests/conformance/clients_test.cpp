// Real clients through both proxies: curl --next (keep-alive POST then GET),
// Python's http.client on one persistent connection, wrk with a POST Lua
// script and ab -k -p. Each must see only 2xx, reuse its connections, and
// the backend must count exactly the requests the client made. A missing
// tool makes the test report SKIPPED.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <regex>

#include "sequences.hpp"
#include "stack.hpp"

using namespace conformance;

namespace {

struct ToolRun {
    int status = -1;
    std::string output;  // stdout and stderr
};

// Runs a shell command line made of fixed strings and ports; `timeout`
// (coreutils) bounds it.
ToolRun run_tool(const std::string& command, int seconds = 30) {
    ToolRun r;
    FILE* p = ::popen(("timeout " + std::to_string(seconds) + " " + command + " 2>&1").c_str(), "r");
    REQUIRE(p);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    r.status = ::pclose(p);
    return r;
}

long number_after(const std::string& text, const std::string& pattern) {
    std::smatch m;
    if (!std::regex_search(text, m, std::regex(pattern + R"(\s*(\d+))"))) return -1;
    return std::stol(m[1]);
}

std::string url(int port, const std::string& path) { return "http://127.0.0.1:" + std::to_string(port) + path; }

struct Named {
    const char* name;
    int port;
};

std::vector<Named> both(const Stack& s) { return {{"nginx", s.nginx->port()}, {"vigil-proxy", s.vigil->port}}; }

// The first recorded request that is not a POST with a body of `size` bytes
// ("" when all are), so a load run reports one line, not thousands.
std::string first_bad(const std::vector<Received>& got, std::size_t size) {
    for (const auto& g : got)
        if (!g.error.empty() || g.method != "POST" || g.body.size() != size) return g.summary();
    return "";
}

}  // namespace

TEST_CASE("curl --next: a keep-alive POST, then GET, then POST on one connection", "[conformance][clients]") {
    const std::string curl = require_tool("curl", {"/usr/bin/curl"});
    Stack s;
    for (const auto& [name, port] : both(s)) {
        INFO(name);
        const std::string w = " -o /dev/null -w '%{http_code} %{num_connects}\\n'";
        const ToolRun r = run_tool(curl + " -s -d '{\"a\":1}' " + url(port, "/curl/p") + w + " --next " +
                                   url(port, "/curl/q") + w + " --next -d 'x=2' " + url(port, "/curl/r") + w);
        INFO(r.output);
        CHECK(r.status == 0);
        // 200 each; one connection made, then reused (num_connects 0).
        CHECK(r.output == "200 1\n200 0\n200 0\n");
        const auto got = s.rec.take();
        REQUIRE(got.size() == 3);
        CHECK(got[0].summary().find("POST /curl/p") != std::string::npos);
        CHECK(got[0].body == "{\"a\":1}");
        CHECK(got[1].method == "GET");
        CHECK(got[1].target == "/curl/q");
        CHECK(got[2].body == "x=2");
    }
}

TEST_CASE("Python http.client: POSTs, GETs and chunked PUTs on one persistent connection", "[conformance][clients]") {
    const std::string python = require_tool("python3", {"/usr/bin/python3"});
    // python3-minimal alone has no http.client (it is in libpython3-stdlib).
    if (run_tool(python + " -c 'import http.client'").status != 0)
        skip("python3 has no http.client (scripts/setup.sh installs python3)");
    Stack s;
    const std::string script = R"PY(
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
first, out = None, []
for i in range(24):
    kind = i % 4
    if kind == 0:
        c.request("POST", "/py/%d" % i, body=b'{"n":%d}' % i, headers={"Content-Type": "application/json"})
    elif kind == 1:
        c.request("GET", "/py/%d?r=chunked" % i)
    elif kind == 2:
        c.request("PUT", "/py/%d" % i, body=iter([b"ab", b"cde"]), encode_chunked=True)
    else:
        c.request("HEAD", "/py/%d" % i)
    r = c.getresponse()
    r.read()
    first = first or c.sock
    out.append("%d%s" % (r.status, "" if c.sock is first else "+reconnect"))
print(" ".join(out))
)PY";
    const std::string path = s.vigil->dir.path + "/client.py";
    std::ofstream(path) << script;
    for (const auto& [name, port] : both(s)) {
        INFO(name);
        const ToolRun r = run_tool(python + " " + path + " " + std::to_string(port));
        INFO(r.output);
        CHECK(r.status == 0);
        std::string expected;
        for (int i = 0; i < 24; ++i) expected += std::string(i ? " " : "") + "200";
        CHECK(r.output == expected + "\n");
        const auto got = s.rec.take();
        REQUIRE(got.size() == 24);
        for (int i = 0; i < 24; ++i) {
            INFO("request " << i << ": " << got[i].summary());
            CHECK(got[i].error.empty());
            CHECK(got[i].method == std::string(i % 4 == 0 ? "POST" : i % 4 == 1 ? "GET" : i % 4 == 2 ? "PUT" : "HEAD"));
            if (i % 4 == 2) CHECK(got[i].body == "abcde");
        }
    }
}

TEST_CASE("wrk with a POST script: only 2xx, the backend counts what wrk counts", "[conformance][clients]") {
    const std::string wrk = require_tool("wrk", {"/usr/bin/wrk", "/usr/local/bin/wrk"});
    Stack s;
    // Each thread (one connection each) stops itself after 500 answers:
    // then no request is in flight when wrk ends, and the backend's count
    // must equal wrk's exactly. -d bounds the run if the quota is not met.
    const std::string lua = s.vigil->dir.path + "/post.lua";
    std::ofstream(lua) << R"LUA(
wrk.method = "POST"
wrk.body = '{"amount":1250,"currency":"EUR","reference":"conformance"}'
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
answered, stopped, bad = 0, false, 0
function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 or body ~= "POST " .. #wrk.body .. "\n" then bad = bad + 1 end
  if answered >= 500 then stopped = true; wrk.thread:stop() end
end
function done(summary, latency, requests)
  local n, b = 0, 0
  for _, t in ipairs(threads) do
    if t:get("stopped") then n = n + 1 end
    b = b + t:get("bad")
  end
  io.write(string.format("STOPPED %d BAD %d\n", n, b))
end
)LUA";
    for (const auto& [name, port] : both(s)) {
        INFO(name);
        const ToolRun r = run_tool(wrk + " -t2 -c2 -d2s -s " + lua + " " + url(port, "/wrk/post"));
        INFO(r.output);
        CHECK(r.status == 0);
        std::smatch m;
        const long total =
            std::regex_search(r.output, m, std::regex(R"((\d+) requests in)")) ? std::stol(m[1]) : -1L;
        CHECK(r.output.find("Non-2xx") == std::string::npos);
        CHECK(r.output.find("Socket errors") == std::string::npos);
        CHECK(number_after(r.output, "BAD") == 0);
        const auto got = s.rec.take();
        CHECK(first_bad(got, 58) == "");
        const long backend = static_cast<long>(got.size());
        if (number_after(r.output, "STOPPED") == 2) {
            CHECK(total == 1000);
            CHECK(backend == total);
        } else {
            // The quota was not met within -d (a very busy box): requests in
            // flight when wrk stopped reached the backend, one per connection at most.
            WARN("wrk's quota not met in 2 s; comparing with one request in flight per connection");
            CHECK(backend >= total);
            CHECK(backend <= total + 2);
        }
    }
}

TEST_CASE("ab -k -p: HTTP/1.0 keep-alive POSTs", "[conformance][clients]") {
    const std::string ab = require_tool("ab", {"/usr/bin/ab"});
    Stack s;
    const std::string body = s.vigil->dir.path + "/body.json";
    std::ofstream(body) << R"({"amount":1250,"currency":"EUR"})";
    for (const auto& [name, port] : both(s)) {
        INFO(name);
        const ToolRun r = run_tool(ab + " -q -k -n 400 -c 4 -p " + body + " -T application/json " + url(port, "/ab/post"));
        INFO(r.output);
        CHECK(r.status == 0);
        CHECK(number_after(r.output, "Complete requests:") == 400);
        CHECK(number_after(r.output, "Failed requests:") == 0);
        CHECK(r.output.find("Non-2xx responses") == std::string::npos);
        CHECK(number_after(r.output, "Keep-Alive requests:") == 400);
        const auto got = s.rec.take();
        CHECK(got.size() == 400);
        CHECK(first_bad(got, 32) == "");
    }
}
