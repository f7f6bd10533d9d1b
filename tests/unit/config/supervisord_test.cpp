// A supervisord config (has [supervisord], no [vigil]): supervisord's
// defaults, [supervisord]'s keys, supervisord's program keys, and what is a
// warning there but an error in a vigil config.
#include "helpers.hpp"

using namespace cfgtest;

namespace {

const Program& only(const Config& c) {
    REQUIRE(c.programs.size() == 1);
    return c.programs[0];
}

bool has_warning(const LoadResult& r, int line, const std::string& needle) {
    for (const auto& w : r.warnings)
        if (w.loc.line == line && w.message.find(needle) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("supervisord config: supervisord's program defaults, vigil's without [supervisord]") {
    const std::string program = "[program:a]\ncommand = /bin/true\n";
    LoadResult sd = load("[supervisord]\n" + program);
    INFO(dump(sd));
    REQUIRE(sd.ok());
    CHECK(sd.supervisord);
    const Program& s = only(*sd.config);
    CHECK(s.autorestart == AutoRestart::unexpected);
    CHECK(s.startretries == std::optional<int>(3));
    CHECK(s.stopasgroup == false);
    CHECK(s.killasgroup == false);
    CHECK(s.startsecs == Duration{1000});
    CHECK(s.exitcodes == std::vector<int>{0});
    CHECK(s.stopwaitsecs == Duration{10000});
    CHECK(s.stopsignal == 15);
    CHECK(s.priority == 999);
    CHECK(sd.config->daemon.minfds == 1024);
    CHECK(sd.config->daemon.minprocs == 200);
    CHECK(sd.config->daemon.umask == std::optional<unsigned>(022));
    CHECK(sd.config->daemon.log_dir == "/tmp");
    CHECK(s.stdout_log.path == "/tmp/a.out.log");

    Config v = ok(program);
    const Program& p = only(v);
    CHECK(p.autorestart == AutoRestart::always);
    CHECK_FALSE(p.startretries.has_value());
    CHECK(p.stopasgroup);
    CHECK(v.daemon.minfds == 0);
    CHECK_FALSE(v.daemon.umask.has_value());
    CHECK(v.daemon.log_dir == "/var/log/vigil");

    // [vigil] makes it a vigil config even with [supervisord] in it.
    LoadResult both = load("[vigil]\n[supervisord]\n" + program);
    REQUIRE(both.ok());
    CHECK_FALSE(both.supervisord);
    CHECK(only(*both.config).autorestart == AutoRestart::always);
}

TEST_CASE("supervisord config: written values win over either dialect's defaults") {
    Config c = ok("[supervisord]\n[program:a]\ncommand = x\nautorestart = true\nstartretries = 7\nstopasgroup = true\n");
    CHECK(only(c).autorestart == AutoRestart::always);
    CHECK(only(c).startretries == std::optional<int>(7));
    CHECK(only(c).killasgroup);  // follows stopasgroup, as in supervisord
}

TEST_CASE("supervisord config: every [supervisord] key is read") {
    LoadOptions o;
    o.env = {{"HOME", "/home/me"}};
    LoadResult r = load("[supervisord]\n"
                        "logfile = ~/sd.log\n"             // 2
                        "logfile_maxbytes = 1MB\n"         // 3
                        "logfile_backups = 2\n"            // 4
                        "loglevel = blather\n"             // 5
                        "pidfile = /run/sd.pid\n"          // 6
                        "umask = 077\n"                    // 7
                        "nodaemon = false\n"               // 8
                        "silent = true\n"                  // 9
                        "minfds = 4096\n"                  // 10
                        "minprocs = 500\n"                 // 11
                        "nocleanup = false\n"              // 12
                        "childlogdir = /var/log/sd\n"      // 13
                        "user = www-data\n"                // 14
                        "directory = /srv\n"               // 15
                        "strip_ansi = true\n"              // 16
                        "environment = A=1,B=\"x, y\"\n"   // 17
                        "identifier = box\n"               // 18
                        "[program:a]\ncommand = x %(ENV_A)s\nenvironment = B=own\n",
                        o);
    INFO(dump(r));
    REQUIRE(r.ok());
    const Daemon& d = r.config->daemon;
    CHECK(d.logfile == "/home/me/sd.log");
    CHECK(d.logfile_maxbytes == 1024 * 1024);
    CHECK(d.logfile_backups == 2);
    CHECK(d.log_level == "trace");
    CHECK(d.pidfile == "/run/sd.pid");
    CHECK(d.umask == std::optional<unsigned>(077));
    CHECK(d.silent);
    CHECK(d.minfds == 4096);
    CHECK(d.minprocs == 500);
    CHECK(d.log_dir == "/var/log/sd");
    CHECK(d.strip_ansi);
    CHECK(d.identifier == "box");
    const Program& p = only(*r.config);
    CHECK(p.user == "www-data");  // programs' default, as supervisord's children run as its user
    CHECK(p.directory == "/srv");
    CHECK(p.command == "x 1");  // [supervisord]'s environment is %(ENV_A)s for programs
    CHECK(p.environment == std::vector<std::pair<std::string, std::string>>{{"A", "1"}, {"B", "own"}});
    CHECK(p.stdout_log.path == "/var/log/sd/a.out.log");
    CHECK(has_warning(r, 8, "nodaemon: has no effect in vigil"));
    CHECK(has_warning(r, 12, "nocleanup: has no effect in vigil"));
    CHECK(r.warnings.size() == 2);
}

TEST_CASE("supervisord config: [supervisord] values are checked like supervisord's") {
    only_error("[supervisord]\nloglevel = loud\n", 2, "loglevel: expected critical, error, warn, info, debug");
    only_error("[supervisord]\numask = 8\n", 2, "umask:");
    only_error("[supervisord]\nminfds = lots\n", 2, "minfds:");
    only_error("[supervisord]\nnodaemon = perhaps\n", 2, "nodaemon: expected true or false");
}

TEST_CASE("supervisord config: supervisord's program keys are accepted in both dialects") {
    for (const char* head : {"[supervisord]\n", ""}) {
        LoadResult r = load(std::string(head) +
                            "[program:a]\ncommand = x\n"
                            "stdout_syslog = true\n"           // base + 3
                            "stderr_logfile = syslog\n"        // base + 4
                            "stdout_events_enabled = true\n"   // base + 5
                            "stderr_events_enabled = false\n"  // base + 6
                            "stdout_capture_maxbytes = 1MB\n"  // base + 7
                            "stderr_capture_maxbytes = 0\n"    // base + 8
                            "serverurl = AUTO\n");             // base + 9
        INFO(dump(r));
        REQUIRE(r.ok());
        const Program& p = only(*r.config);
        CHECK(p.stdout_log.syslog);
        CHECK_FALSE(p.stdout_log.path.empty());
        CHECK(p.stderr_log.syslog);
        CHECK(p.stderr_log.path.empty());  // `syslog` as the file: the system log only
        const int base = *head ? 1 : 0;
        CHECK(has_warning(r, base + 4, "stderr_logfile: syslog is deprecated"));
        CHECK(p.stdout_events_enabled);  // they feed event listeners (docs/event-listeners.md)
        CHECK(p.stdout_capture_maxbytes == 1048576);  // supervisord: 1MB is 1024 * 1024
        CHECK(p.serverurl.empty());  // AUTO: vigild's own URL (children_server_url)
        CHECK(r.warnings.size() == 1);
    }
}

TEST_CASE("supervisord config: `*_syslog = false` does not undo `*_logfile = syslog`") {
    Config c = ok("[program:a]\ncommand = x\nstdout_logfile = syslog\nstdout_syslog = false\n");
    CHECK(only(c).stdout_log.syslog);
}

TEST_CASE("supervisord config: unknown keys and sections are warnings there, errors in a vigil config") {
    LoadResult r = load("[supervisord]\nfoo = 1\n[program:a]\ncommand = x\nautostrat = true\n[mystery]\n");
    INFO(dump(r));
    REQUIRE(r.ok());
    CHECK(has_warning(r, 2, "unknown key 'foo' in [supervisord]; ignored, as supervisord does"));
    CHECK(has_warning(r, 5, "unknown key 'autostrat' in [program:a]; ignored, as supervisord does"));
    CHECK(has_warning(r, 6, "unknown section [mystery]"));
    only_error("[program:a]\ncommand = x\nautostrat = true\n", 3, "unknown key 'autostrat' in [program:a]");
    // supervisord ignores a stderr file next to redirect_stderr with a warning.
    LoadResult red = load("[supervisord]\n[program:a]\ncommand = x\nredirect_stderr = true\nstderr_logfile = /x\n");
    REQUIRE(red.ok());
    CHECK(has_warning(red, 5, "stderr_logfile: has no effect with redirect_stderr = true"));
    only_error("[program:a]\ncommand = x\nredirect_stderr = true\nstderr_logfile = /x\n", 4,
               "has no effect with redirect_stderr");
}

TEST_CASE("supervisord config: an event listener pool loads with supervisord's defaults") {
    Config c = ok("[supervisord]\n[eventlistener:crash]\ncommand = x\nevents = PROCESS_STATE\n");
    REQUIRE(c.event_listeners.size() == 1);
    const Program* p = c.find("crash");
    REQUIRE(p);
    CHECK(p->listener_pool == "crash");
    CHECK(p->autorestart == AutoRestart::unexpected);  // supervisord's default, as for its programs
}

TEST_CASE("supervisord config: names as supervisord allows them") {
    Config c = ok("[program:café]\ncommand = x\n[program:c++]\ncommand = x\n[program:a#b?c%d]\ncommand = x\n"
                  "[group:wëb]\nprograms = café,c++\n");
    CHECK(names(c) == std::vector<std::string>{"a#b?c%d", "c++", "café"});
    only_error("[program:a b]\ncommand = x\n", 1, "invalid program name 'a b'");
    only_error("[program:a:b]\ncommand = x\n", 1, "invalid program name 'a:b'");
    only_error("[program:..]\ncommand = x\n", 1, "invalid program name '..'");
    only_error("[program:a\tb]\ncommand = x\n", 1, "invalid program name");
}

TEST_CASE("supervisord config: ' #' comments and mixed-case keys reach the values as supervisord reads them") {
    Config c = ok("[supervisord]\n[program:a]\nCommand = /bin/sleep 100  # keep alive\nAutoRestart = false ; no\n");
    CHECK(only(c).command == "/bin/sleep 100");
    CHECK(only(c).autorestart == AutoRestart::never);
}

TEST_CASE("supervisord config: configparser's [DEFAULT] is refused rather than ignored") {
    only_error("[supervisord]\n[DEFAULT]\nautorestart = false\n[program:a]\ncommand = x\n", 2,
               "[DEFAULT] (keys for every section) is not supported by vigil");
}

TEST_CASE("supervisord config: with both [vigil] and [supervisord], [vigil] wins where both set a thing") {
    Config c = ok("[supervisord]\nchildlogdir = /a\nloglevel = debug\numask = 077\n[vigil]\nlog_dir = /b\n");
    CHECK(c.daemon.log_dir == "/b");
    CHECK(c.daemon.log_level == "debug");
    CHECK(c.daemon.umask == std::optional<unsigned>(077));
}
