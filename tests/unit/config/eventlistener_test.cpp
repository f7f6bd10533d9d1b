// [eventlistener:x]: the pool's keys, the listener processes it makes, and
// supervisord's refusals.
#include "helpers.hpp"

#include "config/event_types.hpp"

using namespace cfgtest;

TEST_CASE("config: [eventlistener:x] makes a pool and its listener processes") {
    Config c = ok("[eventlistener:crash]\ncommand = /usr/bin/crashmail -a\nevents = process_state_fatal, TICK_60\n"
                  "numprocs = 2\nprocess_name = %(program_name)s_%(process_num)d\nbuffer_size = 3\n"
                  "stderr_logfile = /tmp/crash.err\n[program:web]\ncommand = /bin/web\nstdout_events_enabled = true\n"
                  "stdout_capture_maxbytes = 1MB\n");
    REQUIRE(c.event_listeners.size() == 1);
    const auto& pool = c.event_listeners[0];
    CHECK(pool.name == "crash");
    CHECK(pool.events == std::vector<std::string>{"PROCESS_STATE_FATAL", "TICK_60"});
    CHECK(pool.buffer_size == 3);
    CHECK(pool.priority == -1);
    CHECK(pool.processes == std::vector<std::string>{"crash_0", "crash_1"});
    const Program* l = c.find("crash_1");
    REQUIRE(l);
    CHECK(l->listener_pool == "crash");
    CHECK(l->group == "crash");
    CHECK(l->priority == -1);
    CHECK(l->stdout_log.path.empty());  // the protocol channel
    CHECK(l->stderr_log.path == "/tmp/crash.err");
    // Listeners start first, as in supervisord.
    CHECK(c.programs.front().listener_pool == "crash");
    const Program* web = c.find("web");
    REQUIRE(web);
    CHECK(web->stdout_events_enabled);
    CHECK_FALSE(web->stderr_events_enabled);
    CHECK(web->stdout_capture_maxbytes == 1024 * 1024);
    CHECK(web->listener_pool.empty());
}

TEST_CASE("config: [eventlistener:x] refusals are supervisord's, with the section's name") {
    only_error("[eventlistener:x]\ncommand = /bin/l\n", 1, "needs events =");
    only_error("[eventlistener:x]\ncommand = /bin/l\nevents = PROCESS_STATE, NOPE\n", 3, "unknown event type 'NOPE'");
    only_error("[eventlistener:x]\ncommand = /bin/l\nevents = TICK_5\nbuffer_size = 0\n", 4, "buffer_size");
    only_error("[eventlistener:x]\ncommand = /bin/l\nevents = TICK_5\nredirect_stderr = true\n", 4,
               "redirect_stderr: not allowed");
    only_error("[eventlistener:x]\ncommand = /bin/l\nevents = TICK_5\nresult_handler = mymod:handler\n", 4,
               "only supervisord's default handler");
    only_error("[eventlistener:x]\ncommand = /bin/l\nevents = TICK_5\nbogus = 1\n", 4,
               "unknown key 'bogus' in [eventlistener:x]");
    only_error("[program:x]\ncommand = /bin/p\n[eventlistener:x]\ncommand = /bin/l\nevents = TICK_5\n", 3,
               "has the name of a program or group");
    Config c = ok("[eventlistener:x]\ncommand = /bin/l\nevents = EVENT\n"
                  "result_handler = supervisor.dispatchers:default_handler\nready_timeout = 5s\npriority = 7\n");
    CHECK(c.event_listeners[0].ready_timeout == std::chrono::milliseconds(5000));
    CHECK(c.find("x")->priority == 7);
}

TEST_CASE("config: event types match as supervisord's class hierarchy") {
    CHECK(event_type_matches("EVENT", "TICK_5"));
    CHECK(event_type_matches("PROCESS_STATE", "PROCESS_STATE_FATAL"));
    CHECK(event_type_matches("PROCESS_STATE_FATAL", "PROCESS_STATE_FATAL"));
    CHECK_FALSE(event_type_matches("PROCESS_STATE_FATAL", "PROCESS_STATE_EXITED"));
    CHECK(event_type_matches("PROCESS_LOG", "PROCESS_LOG_STDERR"));
    CHECK(event_type_matches("PROCESS_COMMUNICATION", "PROCESS_COMMUNICATION_STDOUT"));
    CHECK(event_type_matches("SUPERVISOR_STATE_CHANGE", "SUPERVISOR_STATE_CHANGE_STOPPING"));
    CHECK(event_type_matches("PROCESS_GROUP", "PROCESS_GROUP_REMOVED"));
    CHECK_FALSE(event_type_matches("TICK", "PROCESS_GROUP_ADDED"));
    CHECK(is_event_type("REMOTE_COMMUNICATION"));
    CHECK_FALSE(is_event_type("process_state"));  // the loader upper-cases first
}

TEST_CASE("config: a listener's stdout log keys are accepted and said to have no effect") {
    LoadResult r = load("[eventlistener:l]\ncommand = x\nevents = TICK_5\nstdout_logfile = /tmp/l.log\n"
                        "stdout_logfile = NONE\nstdout_syslog = true\nstdout_capture_maxbytes = 0\n"
                        "stdout_events_enabled = yes\nstderr_logfile = /tmp/l.err\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    std::vector<int> lines;
    for (const auto& w : r.warnings)
        if (w.message.find("has no effect in [eventlistener:l]") != std::string::npos) lines.push_back(w.loc.line);
    // line 4 is set again (line 5 wins: NONE asks nothing); capture 0 asks nothing
    // either; stderr is logged as for any program.
    CHECK(std::count(lines.begin(), lines.end(), 6) == 1);
    CHECK(std::count(lines.begin(), lines.end(), 8) == 1);
    CHECK(std::count(lines.begin(), lines.end(), 4) == 0);
    CHECK(std::count(lines.begin(), lines.end(), 5) == 0);
    CHECK(std::count(lines.begin(), lines.end(), 7) == 0);
    CHECK(std::count(lines.begin(), lines.end(), 9) == 0);
}
