// [eventlistener:x] with listeners written on Debian's supervisor.childutils
// (the library superlance's crashmail, memmon and httpok use): they record
// what vigild sends them to files, and the tests wait on those files.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "harness.hpp"

using namespace vigil::test;

namespace {

const std::string kScripts = std::string(VIGIL_SOURCE_DIR) + "/tests/integration/event_listeners/";
const std::string kPython = "/usr/bin/python3";

// Ends the test process as SKIPPED without python3 and supervisor's childutils.
void need_childutils() {
    std::string out;
    if (run({kPython, "-c", "import supervisor.childutils"}, &out) != 0)
        skip("needs " + kPython + " with Debian's supervisor package (supervisor.childutils): " + out);
}

struct Record {
    std::string type;
    long serial = -1, pool_serial = -1;
    std::string pool;
    std::string payload;  // newlines as "\n" (two characters)
    // "processname:x groupname:y …" → fields
    std::map<std::string, std::string> fields() const {
        std::map<std::string, std::string> out;
        const std::string head = payload.substr(0, payload.find("\\n"));
        std::size_t at = 0;
        while (at < head.size()) {
            const auto end = std::min(head.find(' ', at), head.size());
            const std::string item = head.substr(at, end - at);
            if (const auto colon = item.find(':'); colon != std::string::npos)
                out[item.substr(0, colon)] = item.substr(colon + 1);
            at = end + 1;
        }
        return out;
    }
};

// recorder.py's lines: "TYPE serial:N poolserial:N pool:P|PAYLOAD".
std::vector<Record> parse(const std::vector<std::string>& lines) {
    std::vector<Record> out;
    for (const auto& line : lines) {
        Record r;
        const auto bar = line.find('|');
        const std::string head = line.substr(0, bar);
        r.payload = bar == std::string::npos ? "" : line.substr(bar + 1);
        char type[64] = {}, pool[64] = {};
        std::sscanf(head.c_str(), "%63s serial:%ld poolserial:%ld pool:%63s", type, &r.serial, &r.pool_serial, pool);
        r.type = type;
        r.pool = pool;
        out.push_back(std::move(r));
    }
    return out;
}

// Waits, on the file's changes, until `done` holds for its records.
std::vector<Record> wait_records(const std::string& path, const std::function<bool(const std::vector<Record>&)>& done,
                                 Ms timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t have = 0;
    for (;;) {
        const auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        auto lines = wait_for_lines(path, have + 1, left);
        if (!lines) break;
        auto records = parse(*lines);
        if (done(records)) return records;
        have = lines->size();
    }
    auto records = parse(lines_of(read_file(path)));
    INFO("recorded:\n" << read_file(path));
    FAIL("the listener did not receive what the test waited for in time");
    return records;
}

std::vector<Record> of_process(const std::vector<Record>& all, const std::string& name) {
    std::vector<Record> out;
    for (const auto& r : all)
        if (r.fields().count("processname") && r.fields().at("processname") == name) out.push_back(r);
    return out;
}

bool has(const std::vector<Record>& all, const std::string& type, const std::string& process) {
    return std::any_of(all.begin(), all.end(), [&](const Record& r) {
        return r.type == type && (process.empty() || r.fields()["processname"] == process);
    });
}

// The processes of the numprocs pool test: its two listeners and three programs.
constexpr const char* kNames[] = {"pair_0", "pair_1", "a", "b", "c"};

// `more` replaces the default buffer_size of 100 (a key may not be written twice).
std::string listener(const std::string& pool, const std::string& command, const std::string& events,
                     const std::string& more = "buffer_size = 100") {
    return "[eventlistener:" + pool + "]\ncommand = " + command + "\nevents = " + events +
           "\nstartsecs = 0\nbackoff = 100ms,1,100ms\n" + more + "\n";
}

std::string recorder(const std::string& out, const std::string& args = "") {
    return kPython + " " + kScripts + "recorder.py " + out + args;
}

}  // namespace

TEST_CASE("event listeners: a scripted run reaches a childutils listener in order, with supervisord's fields",
          "[integration][events]") {
    need_childutils();
    TempDir files;
    const std::string out = files / "events";
    Vigild v(listener("rec", recorder(out), "PROCESS_STATE") +
             "[program:job]\ncommand = /bin/sh -c \"exit 3\"\nstartsecs = 1\nstartretries = 1\n"
             "backoff = 100ms,1,100ms\n"
             "[program:crasher]\ncommand = /bin/sh -c \"sleep 0.3; exit 2\"\nstartsecs = 0\nautorestart = false\n"
             "[program:steady]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    wait_records(out, [](const auto& all) {
        return has(all, "PROCESS_STATE_FATAL", "job") && has(all, "PROCESS_STATE_EXITED", "crasher") &&
               has(all, "PROCESS_STATE_RUNNING", "steady");
    });
    REQUIRE(v.ctl({"stop", "steady"}) == 0);
    const auto all = wait_records(out, [](const auto& all) { return has(all, "PROCESS_STATE_STOPPED", "steady"); });

    // One pool, one listener: serials and pool serials only go up.
    for (std::size_t i = 1; i < all.size(); ++i) {
        CHECK(all[i].serial > all[i - 1].serial);
        CHECK(all[i].pool_serial == all[i - 1].pool_serial + 1);
        CHECK(all[i].pool == "rec");
    }

    auto job = of_process(all, "job");
    std::vector<std::string> seen;
    for (const auto& r : job) seen.push_back(r.type + " " + r.payload);
    CHECK(seen == std::vector<std::string>{
                      "PROCESS_STATE_STARTING processname:job groupname:job from_state:STOPPED tries:0",
                      "PROCESS_STATE_BACKOFF processname:job groupname:job from_state:STARTING tries:1",
                      "PROCESS_STATE_STARTING processname:job groupname:job from_state:BACKOFF tries:1",
                      "PROCESS_STATE_BACKOFF processname:job groupname:job from_state:STARTING tries:2",
                      "PROCESS_STATE_FATAL processname:job groupname:job from_state:BACKOFF",
                  });

    auto crasher = of_process(all, "crasher");
    REQUIRE(crasher.size() == 3);
    CHECK(crasher[0].type == "PROCESS_STATE_STARTING");
    CHECK(crasher[1].type == "PROCESS_STATE_RUNNING");
    CHECK(crasher[2].type == "PROCESS_STATE_EXITED");
    const auto exited = crasher[2].fields();
    CHECK(exited.at("from_state") == "RUNNING");
    CHECK(exited.at("expected") == "0");
    CHECK(exited.at("pid") == crasher[1].fields().at("pid"));
    CHECK(std::stoi(exited.at("pid")) > 0);

    auto steady = of_process(all, "steady");
    REQUIRE(steady.size() == 4);
    CHECK(steady[2].type == "PROCESS_STATE_STOPPING");
    CHECK(steady[2].fields().at("from_state") == "RUNNING");
    CHECK(steady[3].type == "PROCESS_STATE_STOPPED");
    CHECK(steady[3].fields().at("from_state") == "STOPPING");
    CHECK(steady[3].fields().at("pid") == steady[1].fields().at("pid"));
}

TEST_CASE("event listeners: a crashmail-style listener acts on PROCESS_STATE_FATAL", "[integration][events]") {
    need_childutils();
    TempDir files;
    const std::string alerts = files / "alerts";
    Vigild v(listener("crashmail", kPython + " " + kScripts + "crashmail.py " + alerts, "PROCESS_STATE") +
             "[program:doomed]\ncommand = /bin/sh -c \"exit 1\"\nstartretries = 0\n");
    v.start();
    auto lines = wait_for_lines(alerts, 1, 15s);
    REQUIRE(lines);
    CHECK((*lines)[0] == "Process doomed in group doomed went FATAL from state BACKOFF");
}

TEST_CASE("event listeners: an event answered FAIL is delivered again", "[integration][events]") {
    need_childutils();
    TempDir files;
    const std::string out = files / "events";
    Vigild v(listener("flaky", recorder(out, " --fail-once"), "PROCESS_STATE_RUNNING") +
             "[program:steady]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    const auto all = wait_records(out, [](const auto& all) {
        return std::count_if(all.begin(), all.end(),
                             [](const Record& r) { return r.fields()["processname"] == "steady"; }) == 2;
    });
    auto steady = of_process(all, "steady");
    CHECK(steady[0].serial == steady[1].serial);  // the same event, twice
    CHECK(steady[0].pool_serial == steady[1].pool_serial);
    CHECK(steady[0].payload == steady[1].payload);
    CHECK(v.find_line("flaky: event was rejected"));
}

TEST_CASE("event listeners: garbage and silent listeners are restarted and do not stall another pool",
          "[integration][events]") {
    need_childutils();
    TempDir files;
    const std::string out = files / "events", garbage = files / "garbage.pids", silent = files / "silent.pids";
    const std::string misbehave = kPython + " " + kScripts + "misbehave.py ";
    Vigild v(listener("garbage", misbehave + garbage + " --garbage", "PROCESS_STATE", "buffer_size = 2") +
             listener("silent", misbehave + silent + " --silent", "PROCESS_STATE", "buffer_size = 2\nready_timeout = 1s") +
             listener("good", recorder(out), "PROCESS_STATE") + "[program:steady]\ncommand = " + child_path() +
             "\nstartsecs = 0\n");
    v.start();
    // Both broken listeners are killed and started again …
    REQUIRE(wait_for_lines(garbage, 2, 15s));
    REQUIRE(wait_for_lines(silent, 2, 15s));
    CHECK(v.find_line("garbage: violated the eventlistener protocol \\(expected READY"));
    CHECK(v.find_line("silent: violated the eventlistener protocol \\(no READY within ready_timeout=1000ms\\)"));
    CHECK(v.find_line("pool (garbage|silent) event buffer overflowed, discarding event [0-9]+"));
    // … while the good one receives every change, theirs included.
    wait_records(out, [](const auto& all) {
        return has(all, "PROCESS_STATE_RUNNING", "steady") && of_process(all, "garbage").size() >= 4 &&
               of_process(all, "silent").size() >= 4;
    });
}

TEST_CASE("event listeners: TICK_5, supervisor state and group events arrive", "[integration][events]") {
    need_childutils();
    TempDir files;
    const std::string out = files / "events";
    Vigild v(listener("clock", recorder(out), "TICK_5, SUPERVISOR_STATE_CHANGE, PROCESS_GROUP") +
             "[program:steady]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    auto all = wait_records(out, [](const auto& all) { return has(all, "TICK_5", ""); }, 20s);
    REQUIRE(all.size() >= 4);
    // As supervisord starts: groups in priority order (listener pools first), then RUNNING.
    CHECK(all[0].type == "PROCESS_GROUP_ADDED");
    CHECK(all[0].payload == "groupname:clock\\n");
    CHECK(all[1].payload == "groupname:steady\\n");
    CHECK(all[2].type == "SUPERVISOR_STATE_CHANGE_RUNNING");
    CHECK(all[2].payload.empty());
    const auto tick = std::find_if(all.begin(), all.end(), [](const Record& r) { return r.type == "TICK_5"; });
    const long when = std::stol(tick->payload.substr(tick->payload.find(':') + 1));
    CHECK(when % 5 == 0);

    // A program and a listener added by an update: the group event, and the
    // new pool receives from its first moment (its own start included).
    const std::string late_out = files / "late_events";
    write_file(v.config_path(), read_file(v.config_path()) + "[program:late]\ncommand = " + child_path() + "\n" +
                                    listener("watcher", recorder(late_out), "PROCESS_STATE"));
    REQUIRE(v.ctl({"update"}) == 0);
    wait_records(out, [](const auto& all) {
        return std::any_of(all.begin(), all.end(), [](const Record& r) {
            return r.type == "PROCESS_GROUP_ADDED" && r.payload == "groupname:late\\n";
        });
    });
    const auto late = wait_records(late_out, [](const auto& all) { return has(all, "PROCESS_STATE_RUNNING", "watcher"); });
    CHECK(late[0].type == "PROCESS_STATE_STARTING");
    CHECK(late[0].pool_serial == 0);
}

TEST_CASE("event listeners: PROCESS_LOG_STDOUT and PROCESS_COMMUNICATION_STDOUT from program output",
          "[integration][events]") {
    need_childutils();
    TempDir files;
    const std::string out = files / "events";
    Vigild v(listener("logs", recorder(out), "PROCESS_LOG, PROCESS_COMMUNICATION") +
             "[program:talker]\ncommand = " + child_path() +
             " --print hello-events --eprint oops-events\nstdout_events_enabled = true\n"
             "stderr_events_enabled = true\nstartsecs = 0\n"
             "[program:comm]\ncommand = /bin/sh -c \"echo 'before<!--XSUPERVISOR:BEGIN-->comm-data"
             "<!--XSUPERVISOR:END-->after'; exec sleep 1000\"\nstdout_capture_maxbytes = 1024\n"
             "stdout_events_enabled = true\nstdout_logfile = NONE\nstartsecs = 0\n");
    v.start();
    const auto all = wait_records(out, [](const auto& all) {
        return has(all, "PROCESS_LOG_STDOUT", "talker") && has(all, "PROCESS_LOG_STDERR", "talker") &&
               of_process(all, "comm").size() == 3;
    });
    const auto talker = of_process(all, "talker");
    REQUIRE(talker.size() == 2);
    const auto err = std::find_if(talker.begin(), talker.end(), [](const Record& r) { return r.type == "PROCESS_LOG_STDERR"; });
    CHECK(err->fields().at("channel") == "stderr");
    CHECK(err->payload.ends_with("\\noops-events\\n"));
    const auto out_event = std::find_if(talker.begin(), talker.end(), [](const Record& r) { return r.type == "PROCESS_LOG_STDOUT"; });
    const auto f = out_event->fields();
    CHECK(f.at("channel") == "stdout");
    CHECK(f.at("groupname") == "talker");
    CHECK(std::stoi(f.at("pid")) > 0);
    CHECK(out_event->payload.substr(out_event->payload.find("\\n")) == "\\nhello-events\\n");

    const auto comm = of_process(all, "comm");
    CHECK(comm[0].type == "PROCESS_LOG_STDOUT");
    CHECK(comm[0].payload.ends_with("\\nbefore"));
    CHECK(comm[1].type == "PROCESS_COMMUNICATION_STDOUT");
    CHECK(comm[1].payload.ends_with(" pid:" + comm[0].fields().at("pid") + "\\ncomm-data"));
    CHECK(comm[2].type == "PROCESS_LOG_STDOUT");
    CHECK(comm[2].payload.ends_with("\\nafter\\n"));
}

TEST_CASE("event listeners: a pool of two listeners shares the events, each delivered once", "[integration][events]") {
    need_childutils();
    TempDir files;
    const std::string out = files / "events";  // both append to it (O_APPEND, one write per line)
    Vigild v(listener("pair", recorder(out), "PROCESS_STATE_RUNNING",
                      "numprocs = 2\nprocess_name = pair_%(process_num)d\nbuffer_size = 100") +
             "[program:a]\ncommand = " + child_path() + "\nstartsecs = 0\n[program:b]\ncommand = " + child_path() +
             "\nstartsecs = 0\n[program:c]\ncommand = " + child_path() + "\nstartsecs = 0\n");
    v.start();
    const auto all = wait_records(out, [](const auto& all) {
        return std::all_of(std::begin(kNames), std::end(kNames),
                           [&](const char* name) { return has(all, "PROCESS_STATE_RUNNING", name); });
    });
    std::set<long> serials;
    for (const auto& r : all) serials.insert(r.serial);
    CHECK(serials.size() == all.size());  // none delivered twice
    CHECK(all.size() == 5);
}
