// Runs every sequence of sequences.cpp and refusals.cpp through nginx and
// through vigil-proxy, in front of the same recording backend, and compares
// what the client got and what the backend received (see sequences.hpp for
// what each kind of expectation asserts). One stack per group.
//
// After each sequence a probe request goes on the same client connection
// when it is still open (its answer must be its own: a response left over
// from a smuggled request would take its place), and another on a fresh
// connection (the proxy keeps serving everyone else); the backend's record
// of the latter marks the end of the sequence's traffic.
#include <catch2/catch.hpp>

#include <iostream>
#include <set>

#include "sequences.hpp"
#include "stack.hpp"

using namespace conformance;

namespace {

struct Run {
    Outcome client;
    Reply after;                      // the fresh-connection probe
    std::vector<Received> backend;    // complete requests (or garbage), without the probes
    std::vector<Received> truncated;  // requests the proxy began to stream and abandoned
};

Run run_on(Recorder& rec, int port, const Sequence& q, bool vigil) {
    Run r;
    const bool refused = q.expect == Expect::refused;
    // Where nginx is documented to accept the request, it keeps the
    // connection: do not wait for it to close.
    const bool await_close = refused && (vigil || !q.nginx_differs);
    r.client = run_script(port, q.steps, await_close, refused ? "" : get("/probe/conn"));
    r.after = one_request(port, get("/probe/after"));
    const bool settled = rec.wait_target("/probe/after", 3000ms);
    for (auto& got : rec.take())
        if (got.truncated) r.truncated.push_back(std::move(got));
        else if (got.target.rfind("/probe/", 0) != 0) r.backend.push_back(std::move(got));
    CHECK(settled);
    return r;
}

std::string line(const Run& r) {
    std::string s = describe(r.client) + "| backend:";
    for (const auto& b : r.backend) s += " {" + b.summary() + "}";
    for (const auto& b : r.truncated) s += " {" + b.summary() + "}";
    return s;
}

void check_common(const Run& r) {
    CHECK(r.after.status == 200);
    CHECK(r.after.header("x-target") == "/probe/after");
    if (r.client.probe.status != 0) CHECK(r.client.probe.header("x-target") == "/probe/conn");
    CHECK(r.client.extra.empty());
    for (const auto& b : r.backend) {
        CHECK(b.error.empty());
        CHECK(b.target.find("smuggled") == std::string::npos);
    }
}

void compare_same(const Run& n, const Run& v) {
    CHECK(v.truncated.size() == n.truncated.size());
    REQUIRE(n.client.error.empty());  // else the sequence itself is wrong
    CHECK(v.client.error.empty());
    REQUIRE(v.client.replies.size() == n.client.replies.size());
    for (std::size_t i = 0; i < n.client.replies.size(); ++i) {
        const Reply &a = n.client.replies[i], &b = v.client.replies[i];
        INFO("response " << i + 1);
        CHECK(b.status == a.status);
        CHECK(b.keep_alive == a.keep_alive);
        CHECK(b.from_backend() == a.from_backend());
        // A proxy may skip 100 Continue when the body came with the head
        // (RFC 9110 10.1.1); it may not send one where nginx sends none.
        if (a.interim == 0) CHECK(b.interim == 0);
        if (!a.from_backend()) continue;  // the proxies' own error pages differ in wording
        CHECK(b.body == a.body);
        CHECK(b.header("etag") == a.header("etag"));
        if (a.framing == "none") CHECK(b.header("content-length") == a.header("content-length"));
    }
    REQUIRE(v.backend.size() == n.backend.size());
    for (std::size_t i = 0; i < n.backend.size(); ++i) {
        const Received &a = n.backend[i], &b = v.backend[i];
        INFO("backend request " << i + 1 << ": nginx {" << a.summary() << "} vigil {" << b.summary() << "}");
        CHECK(b.method == a.method);
        CHECK(b.target == a.target);
        CHECK(b.header("host") == a.header("host"));
        // nginx sends a chunked body it has whole with a Content-Length;
        // vigil-proxy relays the chunks: both are one body, framed.
        CHECK((b.framing == "none") == (a.framing == "none"));
        CHECK(b.body == a.body);
    }
}

void check_refused(const Sequence& q, const Run& n, const Run& v) {
    // vigil-proxy: the framed requests answered, then 400 and a close.
    REQUIRE(v.client.replies.size() == q.framed.size() + 1);
    for (std::size_t i = 0; i < q.framed.size(); ++i) CHECK(v.client.replies[i].status == 200);
    CHECK(v.client.replies.back().status == 400);
    CHECK(!v.client.replies.back().keep_alive);
    CHECK(v.client.closed);
    std::vector<std::string> targets;
    for (const auto& b : v.backend) targets.push_back(b.target);
    CHECK(targets == q.framed);

    // nginx: nothing smuggled either (check_common); it must refuse as well
    // unless the difference is a documented one.
    std::set<std::string> allowed(q.framed.begin(), q.framed.end());
    allowed.insert("/s");
    for (const auto& b : n.backend) CHECK(allowed.count(b.target) == 1);
    // Either may have begun streaming the refused request and abandoned it:
    // the backend sees a request cut short, never one the client did not send.
    for (const Run* r : {&n, &v})
        for (const auto& b : r->truncated) CHECK(allowed.count(b.target) == 1);
    if (!q.nginx_differs) {
        REQUIRE(!n.client.replies.empty());
        CHECK(n.client.replies.back().status >= 400);
        CHECK(n.client.closed);
    }
}

void run_group(const std::string& group) {
    Stack s;
    int count = 0;
    for (const Sequence& q : sequences()) {
        if (q.group != group) continue;
        ++count;
        INFO("sequence: " << q.name);
        const Run n = run_on(s.rec, s.nginx->port(), q, false);
        const Run v = run_on(s.rec, s.vigil->port, q, true);
        std::cout << "[" << group << "] " << q.name << "\n  nginx: " << line(n) << "\n  vigil: " << line(v) << "\n";
        INFO("nginx: " << line(n));
        INFO("vigil: " << line(v));
        // A REQUIRE that fails ends this sequence, not the group: its failure
        // is recorded already, the other sequences still run.
        try {
            check_common(v);
            check_common(n);
            switch (q.expect) {
                case Expect::same: compare_same(n, v); break;
                case Expect::refused: check_refused(q, n, v); break;
                case Expect::differs:
                    CHECK(v.client.error.empty());
                    q.vigil_check(v.client, v.backend);
                    break;
            }
        } catch (const Catch::TestFailureException&) {
        }
    }
    CHECK(count > 0);
}

}  // namespace

TEST_CASE("the suite compares at least 40 sequences", "[conformance]") {
    std::set<std::string> names;
    for (const auto& q : sequences()) CHECK(names.insert(q.name).second);  // names are unique
    CHECK(sequences().size() >= 40);
}

TEST_CASE("keep-alive mixes of methods and bodies", "[conformance]") { run_group("keep-alive"); }
TEST_CASE("pipelined requests", "[conformance]") { run_group("pipelining"); }
TEST_CASE("HTTP/1.0 and Connection: close", "[conformance]") {
    run_group("http/1.0");
    run_group("http/1.1");
}
TEST_CASE("body sizes and limits and Expect: 100-continue", "[conformance]") { run_group("bodies"); }
TEST_CASE("every kind of backend answer", "[conformance]") { run_group("answers"); }
TEST_CASE("smuggling vectors and malformed requests", "[conformance]") { run_group("smuggling"); }
TEST_CASE("deliberate differences from nginx", "[conformance]") { run_group("differences"); }
