// supervisord's event texts: payload fields, the header line, and vigil's
// transitions as supervisord's PROCESS_STATE sequence.
#include <catch2/catch.hpp>

#include "supervisor/events/event_format.hpp"

using namespace vigil::supervisor::events;
using vigil::core::State;

namespace {

ProcessFacts facts() {
    ProcessFacts f;
    f.name = "web_1";
    f.group = "web";
    f.pid = 123;
    f.tries = 2;
    f.expected = false;
    return f;
}

std::vector<std::string> types(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.type);
    return out;
}

}  // namespace

TEST_CASE("events: PROCESS_STATE payloads carry supervisord's fields per state") {
    auto one = [](State from, State to) {
        auto e = process_state_events(from, to, facts());
        REQUIRE(e.size() == 1);
        return e[0];
    };
    CHECK(one(State::stopped, State::starting).payload == "processname:web_1 groupname:web from_state:STOPPED tries:2");
    CHECK(one(State::starting, State::running).payload == "processname:web_1 groupname:web from_state:STARTING pid:123");
    CHECK(one(State::starting, State::backoff).type == "PROCESS_STATE_BACKOFF");
    CHECK(one(State::running, State::exited).payload ==
          "processname:web_1 groupname:web from_state:RUNNING expected:0 pid:123");
    CHECK(one(State::running, State::stopping).payload == "processname:web_1 groupname:web from_state:RUNNING pid:123");
    CHECK(one(State::stopping, State::stopped).payload == "processname:web_1 groupname:web from_state:STOPPING pid:123");
    CHECK(one(State::backoff, State::stopped).type == "PROCESS_STATE_STOPPED");
}

TEST_CASE("events: states vigil skips are sent as supervisord passes through them") {
    auto crash = process_state_events(State::running, State::backoff, facts());
    CHECK(types(crash) == std::vector<std::string>{"PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF"});
    CHECK(crash[1].payload == "processname:web_1 groupname:web from_state:EXITED tries:2");
    auto fatal = process_state_events(State::starting, State::fatal, facts());
    CHECK(types(fatal) == std::vector<std::string>{"PROCESS_STATE_BACKOFF", "PROCESS_STATE_FATAL"});
    CHECK(fatal[1].payload == "processname:web_1 groupname:web from_state:BACKOFF");
    auto restart = process_state_events(State::stopping, State::starting, facts());
    CHECK(types(restart) == std::vector<std::string>{"PROCESS_STATE_STOPPED", "PROCESS_STATE_STARTING"});
    CHECK(process_state_events(State::running, State::running, facts()).empty());
}

TEST_CASE("events: the envelope is supervisord's header line, len in characters") {
    Event e{"PROCESS_LOG_STDOUT", process_log_payload("a", "g", 7, "stdout", "héllo\n")};
    CHECK(e.payload == "processname:a groupname:g pid:7 channel:stdout\nhéllo\n");
    const std::string env = envelope(kServerId, 4, "listeners", 2, e);
    CHECK(env == "ver:3.0 server:supervisor serial:4 pool:listeners poolserial:2 eventname:PROCESS_LOG_STDOUT len:" +
                     std::to_string(e.payload.size() - 1) + "\n" + e.payload);
    CHECK(tick_payload(1700000005) == "when:1700000005");
    CHECK(group_payload("web") == "groupname:web\n");
    CHECK(remote_payload("deploy", "v2") == "type:deploy\nv2");
    CHECK(communication_payload("a", "g", 7, "x") == "processname:a groupname:g pid:7\nx");
}

TEST_CASE("events: undecodable output is rendered as supervisord does") {
    CHECK(printable("plain") == "plain");
    CHECK(printable(std::string("a\xff'\n", 4)) == "Undecodable: b'a\\xff\\'\\n'");
    CHECK(printable("\xe2\x82") == "Undecodable: b'\\xe2\\x82'");  // cut in the middle of a character
    CHECK(code_points("h\xc3\xa9") == 2);
}
