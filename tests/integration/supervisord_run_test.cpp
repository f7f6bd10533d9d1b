// A supervisord config run by vigild as written (tests/supervisord/corpus/
// run/oneshot.conf): supervisord's defaults, [supervisord]'s environment,
// pidfile and strip_ansi, and stdout_syslog lines arriving at a real
// syslog socket. vigild runs in a private mount namespace
// (tests/supervisord/private_mounts.sh) where its default paths and
// /dev/log are this test's: a supervisord config names none of them.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "harness.hpp"

using namespace vigil::test;

namespace {

const std::string kCorpus = std::string(VIGIL_SOURCE_DIR) + "/tests/supervisord/corpus";
const std::string kPrivateMounts = std::string(VIGIL_SOURCE_DIR) + "/tests/supervisord/private_mounts.sh";

void need_private_mounts() {
    if (::geteuid() != 0) skip("needs root for a private mount namespace (unshare -m)");
    if (run({"unshare", "-m", "--propagation", "private", "true"}) != 0)
        skip("unshare -m is not permitted here (a container without CAP_SYS_ADMIN?)");
}

// The syslog socket glibc's syslog(3) writes to, bound where
// private_mounts.sh shows it as /dev/log.
class SyslogReceiver {
public:
    explicit SyslogReceiver(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        REQUIRE(fd_ >= 0);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~SyslogReceiver() { ::close(fd_); }

    // The first datagram containing `needle`, or "" at the deadline.
    std::string wait_for(const std::string& needle, Ms timeout = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) return "";
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
            char buf[8192];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) continue;
            std::string msg(buf, static_cast<std::size_t>(n));
            received_.push_back(msg);
            if (msg.find(needle) != std::string::npos) return msg;
        }
    }
    const std::vector<std::string>& received() const { return received_; }

private:
    int fd_ = -1;
    std::vector<std::string> received_;
};

}  // namespace

TEST_CASE("supervisord config: runs with supervisord's defaults, a one-shot exiting 0 is not restarted",
          "[supervisord]") {
    need_private_mounts();
    Vigild v("");
    write_file(v.config_path(), read_file(kCorpus + "/run/oneshot.conf"));
    SyslogReceiver syslog(v.dir() / "log.sock");
    v.set_env("CORPUS_TMP", v.dir().path());
    v.start({}, {"unshare", "-m", "--propagation", "private", "sh", kPrivateMounts, v.dir().path()});

    // autorestart = unexpected and exitcodes = 0 (supervisord's defaults):
    // exit status 0 ends in EXITED, where vigil's default would restart it.
    REQUIRE(v.expect("oneshot: RUNNING -> EXITED: exit status 0 \\(expected\\), autorestart leaves it down"));
    // longrun needs startsecs (1 s), so it is RUNNING after oneshot's exit,
    // unless this machine is very slow.
    REQUIRE((v.find_line("longrun: STARTING -> RUNNING") || v.expect("longrun: STARTING -> RUNNING")));
    const auto lines = wait_for_lines(v.dir() / "oneshot.txt", 1);
    REQUIRE(lines);
    CHECK(*lines == std::vector<std::string>{"oneshot ran: hello from [supervisord]"});
    std::string status;
    REQUIRE(v.ctl({"status", "oneshot"}, &status) != 2);
    CHECK(status.find("EXITED") != std::string::npos);
    CHECK(status.find("STARTING") == std::string::npos);

    // stdout_syslog: the line arrives tagged with the program's name, its
    // colour codes stripped (strip_ansi = true).
    const std::string msg = syslog.wait_for("line for syslog");
    INFO("received: " << msg);
    CHECK(msg.find("talker: red line for syslog") != std::string::npos);
    CHECK(msg.find('\x1b') == std::string::npos);

    // pidfile = %(ENV_CORPUS_TMP)s/supervisord.pid
    CHECK(read_file(v.dir() / "supervisord.pid") == std::to_string(v.pid()) + "\n");
    CHECK(v.terminate() == 0);
    CHECK(::access((v.dir() / "supervisord.pid").c_str(), F_OK) != 0);
}

TEST_CASE("supervisord config: the reading quirks corpus runs, names with Unicode and '+' work in vigilctl",
          "[supervisord]") {
    need_private_mounts();
    Vigild v("");
    write_file(v.config_path(), read_file(kCorpus + "/style/supervisord.conf"));
    v.set_env("CORPUS_TMP", v.dir().path());
    v.start({}, {"unshare", "-m", "--propagation", "private", "sh", kPrivateMounts, v.dir().path()});
    // The 400-character command line and the ' #' comment reached the
    // spawner intact: both programs stay up.
    for (const char* name : {"keepalive", "long", "café\\+bar"})
        REQUIRE((v.find_line(std::string(name) + ": STARTING -> RUNNING").has_value() ||
                 v.expect(std::string(name) + ": STARTING -> RUNNING").has_value()));
    std::string out;
    CHECK(v.ctl({"stop", "café+bar"}, &out) == 0);
    INFO(out);
    REQUIRE(v.expect("café\\+bar: RUNNING -> STOPPING"));
    CHECK(v.ctl({"status", "café+bar"}, &out) != 0);  // stopped: not running
    CHECK(out.find("STOPPED") != std::string::npos);
    CHECK(v.terminate() == 0);
}
