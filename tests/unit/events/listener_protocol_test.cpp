// The listener side of the protocol as supervisord reads it, byte by byte.
#include <catch2/catch.hpp>

#include "supervisor/events/comm_capture.hpp"
#include "supervisor/events/listener_protocol.hpp"

using namespace vigil::supervisor::events;
using Kind = ListenerProtocol::Step::Kind;

TEST_CASE("events: READY, an event, RESULT 2 OK, READY again") {
    ListenerProtocol p;
    CHECK(p.state() == ListenerState::acknowledged);
    CHECK(p.feed("REA").empty());
    auto s = p.feed("DY\n");
    REQUIRE(s.size() == 1);
    CHECK(s[0].kind == Kind::ready);
    CHECK(p.state() == ListenerState::ready);
    p.sent();
    CHECK(p.state() == ListenerState::busy);
    CHECK(p.feed("RESULT 2").empty());
    s = p.feed("\nOKREADY\n");
    REQUIRE(s.size() == 2);
    CHECK(s[0].kind == Kind::result);
    CHECK(s[0].text == "OK");
    CHECK(s[1].kind == Kind::ready);
    p.sent();
    s = p.feed("RESULT 4\nFAIL");
    REQUIRE(s.size() == 1);
    CHECK(s[0].text == "FAIL");
    CHECK(p.state() == ListenerState::acknowledged);
}

TEST_CASE("events: protocol violations leave the listener UNKNOWN") {
    ListenerProtocol p;
    auto s = p.feed("hello world\n");
    REQUIRE(s.size() == 1);
    CHECK(s[0].kind == Kind::violation);
    CHECK(p.state() == ListenerState::unknown);
    CHECK(p.feed("READY\n").empty());  // too late

    ListenerProtocol early;
    early.feed("READY\n");
    CHECK(early.feed("x")[0].kind == Kind::violation);  // nothing is due before an event

    ListenerProtocol bad_result;
    bad_result.feed("READY\n");
    bad_result.sent();
    CHECK(bad_result.feed("RESULT two\nOK")[0].kind == Kind::violation);

    ListenerProtocol endless;
    endless.feed("READY\n");
    endless.sent();
    CHECK(endless.feed(std::string(ListenerProtocol::kMaxResultLine + 1, 'R'))[0].kind == Kind::violation);

    ListenerProtocol again;
    again.feed("READY\n");
    again.reset();  // a new process
    CHECK(again.state() == ListenerState::acknowledged);
}

TEST_CASE("events: capture mode splits output at the tokens, across reads") {
    CommCapture c(1024);
    auto p = c.feed("before<!--XSUPERVISOR:BEG");
    REQUIRE(p.size() == 1);
    CHECK_FALSE(p[0].communication);
    CHECK(p[0].data == "before");
    p = c.feed("IN-->hello ");
    CHECK(p.empty());
    CHECK(c.capturing());
    p = c.feed("world<!--XSUPERVISOR:END-->after");
    REQUIRE(p.size() == 2);
    CHECK(p[0].communication);
    CHECK(p[0].data == "hello world");
    CHECK(p[1].data == "after");

    CommCapture small(4);
    p = small.feed("<!--XSUPERVISOR:BEGIN-->abcdefgh<!--XSUPERVISOR:END-->");
    REQUIRE(p.size() == 1);
    CHECK(p[0].data == "efgh");  // the last capture_maxbytes
}
