// vigilctl and the control API against a real vigild: verbs, exit codes,
// JSON, events, metrics, permissions and hostile requests.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <cstring>
#include <set>

#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;
using json = nlohmann::json;

namespace {

std::string program(const std::string& name, const std::string& args = "", const std::string& extra = "") {
    const std::string startsecs = extra.find("startsecs") == std::string::npos ? "startsecs = 0\n" : "";
    return "[program:" + name + "]\ncommand = " + child_path() + " " + args + "\n" + startsecs + extra + "\n";
}

json status_json(const Vigild& v) {
    std::string out;
    REQUIRE(v.ctl({"status", "--json"}, &out) <= 3);
    return json::parse(out);
}

json find(const json& list, const std::string& name) {
    for (const auto& p : list)
        if (p["name"] == name) return p;
    return json();
}

int pid_of(const Vigild& v, const std::string& name) { return find(status_json(v), name)["pid"].get<int>(); }

}  // namespace

TEST_CASE("control: status prints supervisorctl's layout and exit codes", "[control]") {
    Vigild v(program("alpha") + program("beta", "", "autostart = false\n"));
    v.start();
    REQUIRE(v.expect("alpha: STARTING -> RUNNING"));
    std::string out;
    CHECK(v.ctl({"status", "alpha"}, &out) == 0);
    CHECK(std::regex_search(out, std::regex("^alpha +RUNNING +pid [0-9]+, uptime 0:00:0[0-9]\n$")));
    CHECK(v.ctl({"status"}, &out) == 3);  // beta is not running
    CHECK(std::regex_search(out, std::regex("beta +STOPPED +not started")));
    CHECK(v.ctl({"status", "nosuch"}, &out) == 2);
    CHECK(out.find("nosuch: ERROR (no such process)") != std::string::npos);
    CHECK(v.ctl({"frobnicate"}, &out) == 2);
    CHECK(out.find("unknown verb") != std::string::npos);
}

TEST_CASE("control: vigild not reachable is exit code 4", "[control]") {
    TempDir d;
    std::string out;
    CHECK(run({VIGILCTL_PATH, "-s", d / "none.sock", "status"}, &out) == 4);
    CHECK(out.find("cannot reach vigild") != std::string::npos);
}

TEST_CASE("control: stop, start and restart wait for the target state", "[control]") {
    Vigild v(program("web", "", "numprocs = 2\nprocess_name = web-%(process_num)d\n") + program("db"));
    v.start();
    REQUIRE(v.expect("web-1: STARTING -> RUNNING"));
    std::string out;
    CHECK(v.ctl({"stop", "web:*"}, &out) == 0);
    CHECK(out == "web-0: stopped\nweb-1: stopped\n");
    CHECK(find(status_json(v), "web-0")["state"] == "STOPPED");
    CHECK(v.ctl({"start", "web-0"}, &out) == 0);
    CHECK(out == "web-0: started\n");
    const int before = pid_of(v, "db");
    CHECK(v.ctl({"restart", "db"}, &out) == 0);
    CHECK(out == "db: started\n");
    const int after = pid_of(v, "db");
    CHECK(after > 0);
    CHECK(after != before);
    CHECK(v.ctl({"stop", "all"}, &out) == 0);
    CHECK(v.ctl({"start", "nosuch"}, &out) == 2);
}

TEST_CASE("control: a start that fails reports ERROR and exit code 1", "[control]") {
    Vigild v(program("broken", "--exit 1", "autostart = false\nstartsecs = 1s\nbackoff = 1s,2,60s\n"));
    v.start();
    std::string out;
    CHECK(v.ctl({"start", "broken"}, &out) == 1);
    CHECK(out.find("broken: ERROR (failed to start") != std::string::npos);
}

TEST_CASE("control: pid, signal and version", "[control]") {
    Vigild v(program("sig"));
    v.start();
    REQUIRE(v.expect("sig: STARTING -> RUNNING"));
    std::string out;
    CHECK(v.ctl({"pid"}, &out) == 0);
    CHECK(std::stoi(out) == v.pid());
    CHECK(v.ctl({"pid", "sig"}, &out) == 0);
    const int pid = std::stoi(out);
    CHECK(pid == pid_of(v, "sig"));
    CHECK(v.ctl({"signal", "USR1", "sig"}, &out) == 0);
    CHECK(v.expect("sig: RUNNING -> BACKOFF: killed by SIGUSR1"));
    CHECK(v.ctl({"signal", "NOPE", "sig"}, &out) == 2);
    CHECK(v.ctl({"version"}, &out) == 0);
    CHECK(out == "0.1.0\n");
}

TEST_CASE("control: tail shows the log, tail -f follows it through a pipe", "[control]") {
    Vigild v("[program:ticker]\ncommand = /bin/sh -c 'echo first; while :; do echo tick; sleep 0.2; done'\n"
             "startsecs = 0\n");
    v.start();
    REQUIRE(wait_for_lines(v.dir() / "log/ticker.out.log", 2));
    std::string out;
    CHECK(v.ctl({"tail", "ticker"}, &out) == 0);
    CHECK(out.rfind("first\ntick\n", 0) == 0);

    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(fds[1], 1);
        ::execl(VIGILCTL_PATH, "vigilctl", "-s", v.socket_path().c_str(), "tail", "-f", "ticker", nullptr);
        ::_exit(127);
    }
    ::close(fds[1]);
    // Wait for new ticks to arrive through the pipe (poll with a deadline).
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::count(got.begin(), got.end(), '\n') < 6 && std::chrono::steady_clock::now() < deadline) {
        pollfd p{fds[0], POLLIN, 0};
        if (::poll(&p, 1, 1000) <= 0) continue;
        char buf[256];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    ::close(fds[0]);
    CHECK(std::count(got.begin(), got.end(), '\n') >= 6);
    CHECK(got.find("tick\n") != std::string::npos);
}

TEST_CASE("control: reread and update apply edits process by process", "[control]") {
    const std::string keep = program("keep");
    Vigild v(keep + program("change") + program("gone") +
             program("pool", "", "numprocs = 2\nprocess_name = pool-%(process_num)d\n"));
    v.start();
    REQUIRE(v.expect("pool-1: STARTING -> RUNNING"));
    const int keep_pid = pid_of(v, "keep"), pool0 = pid_of(v, "pool-0"), change_pid = pid_of(v, "change");

    std::string cfg = read_file(v.config_path());
    const std::string head = cfg.substr(0, cfg.find("[program:"));
    write_file(v.config_path(), head + keep + program("change", "--print changed") + program("added") +
                                    program("pool", "", "numprocs = 3\nprocess_name = pool-%(process_num)d\n"));
    std::string out;
    CHECK(v.ctl({"reread"}, &out) == 0);
    CHECK(out.find("added: available") != std::string::npos);
    CHECK(out.find("pool-2: available") != std::string::npos);
    CHECK(out.find("change: changed") != std::string::npos);
    CHECK(out.find("gone: disappeared") != std::string::npos);
    CHECK(out.find("keep") == std::string::npos);
    CHECK(v.ctl({"reread", "--json"}, &out) == 0);
    const json plan = json::parse(out);
    CHECK(plan["unchanged"] == json({"keep", "pool-0", "pool-1"}));

    CHECK(v.ctl({"update"}, &out) == 0);
    REQUIRE(v.expect("added: STARTING -> RUNNING"));
    REQUIRE(v.expect("pool-2: STARTING -> RUNNING|change: STARTING -> RUNNING"));
    REQUIRE((v.find_line("pool-2: STARTING -> RUNNING") || v.expect("pool-2: STARTING -> RUNNING")));
    REQUIRE((v.find_line("change: STARTING -> RUNNING") || v.expect("change: STARTING -> RUNNING")));
    REQUIRE((v.find_line("gone: removed$") || v.expect("gone: removed$")));
    const json now = status_json(v);
    CHECK(find(now, "keep")["pid"] == keep_pid);
    CHECK(find(now, "pool-0")["pid"] == pool0);
    CHECK(find(now, "change")["pid"] != change_pid);
    CHECK(find(now, "gone").is_null());

    // numprocs down: 3 -> 1 stops two, keeps pool-0.
    write_file(v.config_path(), head + keep + program("change", "--print changed") + program("added") +
                                    program("pool", "", "numprocs = 1\nprocess_name = pool-%(process_num)d\n"));
    CHECK(v.ctl({"update", "pool"}, &out) == 0);
    CHECK(out.find("pool-1: removed") != std::string::npos);
    CHECK(out.find("pool-2: removed") != std::string::npos);
    REQUIRE((v.find_line("pool-2: removed$") || v.expect("pool-2: removed$")));
    CHECK(find(status_json(v), "pool-0")["pid"] == pool0);
}

TEST_CASE("control: a broken edit is refused with file:line and nothing changes", "[control]") {
    Vigild v(program("a"));
    v.start();
    REQUIRE(v.expect("a: STARTING -> RUNNING"));
    const int pid = pid_of(v, "a");
    const std::string good = read_file(v.config_path());
    write_file(v.config_path(), good + "[program:b]\ncommand = /bin/true\nstartsecs = never\n");
    std::string out;
    CHECK(v.ctl({"update"}, &out) == 1);
    CHECK(out.find(v.config_path() + ":") != std::string::npos);
    CHECK(out.find("startsecs") != std::string::npos);
    CHECK(pid_of(v, "a") == pid);
    CHECK(find(status_json(v), "b").is_null());
    // SIGHUP takes the same path and refuses too.
    ::kill(v.pid(), SIGHUP);
    CHECK(v.expect("reload refused: .*vigil.ini:[0-9]+"));
    CHECK(pid_of(v, "a") == pid);
}

TEST_CASE("control: SIGHUP applies an edit like update", "[control]") {
    Vigild v(program("a"));
    v.start();
    REQUIRE(v.expect("a: STARTING -> RUNNING"));
    write_file(v.config_path(), read_file(v.config_path()) + program("b"));
    ::kill(v.pid(), SIGHUP);
    CHECK(v.expect("b: STARTING -> RUNNING"));
    CHECK(v.expect("reload: 1 added, 0 changed, 0 removed, 1 unchanged"));
}

TEST_CASE("control: a program stopped by hand stays stopped across a vigild restart", "[control]") {
    TempDir keep;
    std::string cfg_text;
    {
        Vigild v(program("manual") + program("other"));
        v.start();
        REQUIRE(v.expect("manual: STARTING -> RUNNING"));
        CHECK(v.ctl({"stop", "manual"}) == 0);
        REQUIRE(v.terminate() == 0);
        // Carry the state dir over to the next run.
        CHECK(run({"cp", "-a", v.dir() / "state", keep / "state"}) == 0);
    }
    Vigild v2(program("manual") + program("other"));
    REQUIRE(run({"rm", "-rf", v2.dir() / "state"}) == 0);
    REQUIRE(run({"cp", "-a", keep / "state", v2.dir() / "state"}) == 0);
    v2.start();
    REQUIRE(v2.expect("other: STARTING -> RUNNING"));
    CHECK(v2.find_line("manual: left stopped: stopped by hand"));
    CHECK(find(status_json(v2), "manual")["state"] == "STOPPED");
    CHECK(find(status_json(v2), "manual")["stopped_by_hand"] == true);
    CHECK(v2.ctl({"start", "manual"}) == 0);
    CHECK(find(status_json(v2), "manual")["stopped_by_hand"] == false);
}

TEST_CASE("control: the socket is 0600 and other users are refused", "[control]") {
    Vigild v(program("a"));
    v.start();
    REQUIRE(v.expect("a: STARTING -> RUNNING"));
    struct stat st {};
    REQUIRE(::stat(v.socket_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("nobody"));  // switching users needs root
    const std::string vigilctl = install_reachable(v.dir(), VIGILCTL_PATH);  // nobody runs it
    std::string out;
    CHECK(run({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", vigilctl, "-s", v.socket_path(),
               "status"},
              &out) == 4);
    CHECK(out.find("Permission denied") != std::string::npos);
    // Even with the file opened up by mistake, SO_PEERCRED still refuses.
    ::chmod(v.socket_path().c_str(), 0666);
    CHECK(run({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", vigilctl, "-s", v.socket_path(),
               "stop", "a"},
              &out) == 1);
    CHECK(out.find("permission denied") != std::string::npos);
    CHECK(find(status_json(v), "a")["state"] == "RUNNING");
}

TEST_CASE("control: the events stream sees a restart as it happens", "[control]") {
    Vigild v(program("ev", "", "backoff = 100ms,2,1s\n"));
    v.start();
    REQUIRE(v.expect("ev: STARTING -> RUNNING"));
    const int pid = pid_of(v, "ev");
    SocketClient c(v.socket_path());
    c.send("GET /v1/events HTTP/1.1\r\nHost: v\r\n\r\n");
    // Headers come after the subscription, so the kill below cannot be missed.
    REQUIRE(c.read_until("\r\n\r\n"));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(c.read_until("\"to\":\"RUNNING\""));
    const std::string got = c.received();
    CHECK(got.find("200 OK") != std::string::npos);
    CHECK(got.find("Transfer-Encoding: chunked") != std::string::npos);
    CHECK(got.find("\"to\":\"BACKOFF\"") != std::string::npos);
    CHECK(got.find("\"to\":\"RUNNING\"") != std::string::npos);
}

TEST_CASE("control: /metrics is valid Prometheus text", "[control]") {
    Vigild v(program("m") + program("checked", "", "healthcheck = exec:true\nhealth_interval = 100ms\n"));
    v.start();
    REQUIRE(v.expect("m: STARTING -> RUNNING"));
    const std::string res = raw_exchange(v.socket_path(), "GET /metrics HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n");
    REQUIRE(res.find("200 OK") != std::string::npos);
    const std::string body = res.substr(res.find("\r\n\r\n") + 4);
    const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? -?[0-9.e+-]+$)");
    std::set<std::string> typed;
    int samples = 0;
    for (const auto& line : lines_of(body)) {
        if (line.rfind("# HELP ", 0) == 0) continue;
        if (line.rfind("# TYPE ", 0) == 0) {
            std::istringstream in(line.substr(7));
            std::string name, type;
            in >> name >> type;
            CHECK((type == "gauge" || type == "counter" || type == "histogram"));
            typed.insert(name);
            continue;
        }
        INFO(line);
        CHECK(std::regex_match(line, sample));
        std::string family = line.substr(0, line.find_first_of("{ "));
        for (const char* suffix : {"_bucket", "_sum", "_count"})
            if (!typed.count(family) && family.size() > std::strlen(suffix) &&
                family.compare(family.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
                family.resize(family.size() - std::strlen(suffix));
        CHECK(typed.count(family) == 1);
        ++samples;
    }
    CHECK(samples > 10);
    CHECK(body.find("vigil_program_up{name=\"m\"} 1") != std::string::npos);
    CHECK(body.find("vigil_program_restarts_total{name=\"m\"} 0") != std::string::npos);
}

TEST_CASE("control: malformed, oversized and slow requests get an error and vigild carries on", "[control]") {
    Vigild v(program("a"));
    v.start();
    REQUIRE(v.expect("a: STARTING -> RUNNING"));
    const std::string s = v.socket_path();
    CHECK(raw_exchange(s, "NONSENSE\r\n\r\n").find("HTTP/1.1 400") == 0);
    CHECK(raw_exchange(s, "GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n").find("HTTP/1.1 431") == 0);
    CHECK(raw_exchange(s, "POST /v1/config/update HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n" + std::string(100, '{'))
              .find("HTTP/1.1 413") == 0);
    CHECK(raw_exchange(s, "POST /v1/programs/a/start HTTP/1.1\r\nConnection: close\r\nContent-Length: 5\r\n\r\n[1,2]")
              .find("HTTP/1.1 400") == 0);
    CHECK(raw_exchange(s, "POST /v1/programs/a/signal HTTP/1.1\r\nConnection: close\r\nContent-Length: 1\r\n\r\n{").find("HTTP/1.1 400") == 0);
    CHECK(raw_exchange(s, "GET /v2/nothing HTTP/1.1\r\nConnection: close\r\n\r\n").find("HTTP/1.1 404") == 0);
    CHECK(raw_exchange(s, "DELETE /v1/programs HTTP/1.1\r\nConnection: close\r\n\r\n").find("HTTP/1.1 405") == 0);
    // A client that sends half a request and stalls is cut off with 408.
    CHECK(raw_exchange(s, "GET /v1/programs HTTP/1.1\r\nHost:", 15s).find("HTTP/1.1 408") == 0);
    std::string out;
    CHECK(v.ctl({"status"}, &out) == 0);
    CHECK(::kill(v.pid(), 0) == 0);
}

TEST_CASE("control: shutdown stops everything and vigild exits 0", "[control]") {
    Vigild v(program("a") + program("b", "", "depends_on = a\n"));
    v.start();
    REQUIRE(v.expect("b: STARTING -> RUNNING"));
    std::string out;
    CHECK(v.ctl({"shutdown"}, &out) == 0);
    CHECK(v.wait_exit(15s) == 0);
    CHECK(v.find_line("all programs are down"));
}
