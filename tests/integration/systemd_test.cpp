// vigild under systemd: the installed unit passes `systemd-analyze verify`,
// the sd_notify messages (READY, STATUS, WATCHDOG cadence, RELOADING,
// STOPPING) reach a test NOTIFY_SOCKET from vigild's own pid, and `cpack`
// builds a .deb holding what `cmake --install` installs.
//
// The install and .deb cases need the build tree VIGIL_BUILD_DIR with every
// installed target built (vigil-proxy and the services too: `cmake --build
// build`, as scripts/build.sh does).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace vigil::test;
using SysClock = std::chrono::system_clock;

namespace {

// One notify assignment ("READY=1") as systemd would see it: when the kernel
// queued it (SO_TIMESTAMPNS, so a late read does not make it late) and which
// process sent it (SO_PASSCRED: NotifyAccess=main drops any other pid's).
struct Note {
    std::string text;
    SysClock::time_point at;
    pid_t pid = -1;
};

// A systemd stand-in: a datagram socket at a path or an abstract '@name',
// drained by a thread at once (as systemd does; a full queue would block
// vigild's sendto) into a list that tests wait on.
class NotifyListener {
public:
    explicit NotifyListener(std::string address) : address_(std::move(address)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        REQUIRE(address_.size() < sizeof addr.sun_path);
        std::memcpy(addr.sun_path, address_.data(), address_.size());
        if (address_[0] == '@') addr.sun_path[0] = '\0';
        const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0);
        const int on = 1;
        REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == 0);
        REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0);
        REQUIRE(::pipe2(stop_, O_CLOEXEC) == 0);
        thread_ = std::thread([this] { loop(); });
    }

    ~NotifyListener() {
        [[maybe_unused]] auto n = ::write(stop_[1], "x", 1);
        thread_.join();
        ::close(fd_);
        ::close(stop_[0]);
        ::close(stop_[1]);
    }

    const std::string& address() const { return address_; }

    // Index of the first note equal to `text` at or after `from`.
    std::optional<std::size_t> wait_for(const std::string& text, std::size_t from = 0, Ms timeout = 15s) {
        std::unique_lock lock(mu_);
        std::optional<std::size_t> found;
        cv_.wait_for(lock, timeout, [&] {
            for (std::size_t i = from; i < notes_.size(); ++i)
                if (notes_[i].text == text) {
                    found = i;
                    return true;
                }
            return false;
        });
        return found;
    }

    // Indexes of the first `count` notes equal to `text` at or after `from`
    // (fewer at the deadline).
    std::vector<std::size_t> wait_count(const std::string& text, std::size_t count, std::size_t from,
                                        Ms timeout = 10s) {
        std::unique_lock lock(mu_);
        std::vector<std::size_t> found;
        cv_.wait_for(lock, timeout, [&] {
            found.clear();
            for (std::size_t i = from; i < notes_.size() && found.size() < count; ++i)
                if (notes_[i].text == text) found.push_back(i);
            return found.size() >= count;
        });
        return found;
    }

    std::vector<Note> notes() const {
        std::lock_guard lock(mu_);
        return notes_;
    }

    std::string dump() const {
        std::string out;
        for (const auto& n : notes()) out += n.text + " (pid " + std::to_string(n.pid) + ")\n";
        return out;
    }

private:
    void loop() {
        for (;;) {
            pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
            if (::poll(p, 2, -1) < 0) continue;
            if (p[1].revents) return;
            char buf[4096];
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(timespec))];
            iovec iov{buf, sizeof buf};
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
            if (n < 0) continue;
            Note base;
            base.at = SysClock::now();
            for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                    ucred cred;
                    std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
                    base.pid = cred.pid;
                } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    timespec ts;
                    std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
                    base.at = SysClock::time_point(std::chrono::duration_cast<SysClock::duration>(
                        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
                }
            }
            // A datagram may carry several newline-separated assignments.
            std::lock_guard lock(mu_);
            for (const auto& line : lines_of(std::string(buf, static_cast<std::size_t>(n)))) {
                Note note = base;
                note.text = line;
                notes_.push_back(std::move(note));
            }
            cv_.notify_all();
        }
    }

    std::string address_;
    int fd_ = -1;
    int stop_[2] = {-1, -1};
    std::thread thread_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Note> notes_;
};

long long ms_between(SysClock::time_point a, SysClock::time_point b) {
    return std::chrono::duration_cast<Ms>(b - a).count();
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
    return s;
}

// A shell script without its comment lines.
std::string code_of(const std::string& script) {
    std::string out;
    for (const auto& line : lines_of(script)) {
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] != '#') out += line + "\n";
    }
    return out;
}

// `cmake --install` of the build tree into DESTDIR `root`, for /usr.
void install_into(const std::string& root) {
    for (const char* component : {"vigil", "systemd"}) {
        std::string out;
        const int rc = run({"env", "DESTDIR=" + root, "cmake", "--install", VIGIL_BUILD_DIR, "--prefix", "/usr",
                            "--component", component},
                           &out, 120s);
        INFO(out);
        REQUIRE(rc == 0);
    }
}

mode_t mode_of(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

std::string programs_for_notify(const std::string& env_file) {
    // Both take startsecs = 1s to count as started: READY=1 may not come
    // before that. `printenv` shows what a child inherits.
    return "[program:slow]\ncommand = " + child_path() +
           "\nstartsecs = 1s\n\n"
           "[program:env]\ncommand = /bin/sh -c 'env > " +
           env_file + "; exec sleep 1000'\nstartsecs = 1s\n\n";
}

}  // namespace

TEST_CASE("systemd: the unit installed into a DESTDIR passes systemd-analyze verify", "[systemd]") {
    TempDir root;
    install_into(root.path());

    const std::string unit_path = root / "usr/lib/systemd/system/vigil.service";
    const std::string unit = read_file(unit_path);
    INFO(unit);
    // Paths of this install (prefix /usr → config in /etc), not of the build.
    CHECK(contains(unit, "\nExecStartPre=/usr/bin/vigild --check -c /etc/vigil/vigil.ini\n"));
    CHECK(contains(unit, "\nExecStart=/usr/bin/vigild -c /etc/vigil/vigil.ini\n"));
    CHECK(contains(unit, "\nExecReload=/bin/kill -HUP $MAINPID\n"));
    for (const char* line : {"Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "Restart=always", "KillMode=mixed",
                             "Delegate=yes", "OOMPolicy=continue", "WantedBy=multi-user.target"})
        CHECK(contains(unit, std::string("\n") + line + "\n"));
    CHECK_FALSE(contains(unit, "@"));  // every @VAR@ was substituted

    // Everything the unit runs is installed, and the installed vigild
    // accepts the installed example config (ExecStartPre would refuse it).
    CHECK(::access((root / "usr/bin/vigild").c_str(), X_OK) == 0);
    CHECK(::access((root / "usr/bin/vigilctl").c_str(), X_OK) == 0);
    std::string out;
    CHECK(run({root / "usr/bin/vigild", "--check", "-c", root / "etc/vigil/vigil.ini"}, &out) == 0);
    INFO(out);
    const std::string config = read_file(root / "etc/vigil/vigil.ini");
    for (const char* line : {"control_socket = /run/vigil/vigil.sock", "socket_group = vigil",
                             "state_dir = /var/lib/vigil", "log_dir = /var/log/vigil"})
        CHECK(contains(config, line));
    CHECK(mode_of(root / "etc/vigil/vigil.ini") == 0640);

    // systemd-analyze checks that the binaries exist, so it verifies a copy
    // whose vigild and config paths point into the DESTDIR; nothing else
    // changes. Any output is a finding (unknown keys are only warnings).
    TempDir copy;
    const std::string rewritten = replace_all(replace_all(unit, "/usr/bin/vigild", root / "usr/bin/vigild"),
                                              "/etc/vigil/vigil.ini", root / "etc/vigil/vigil.ini");
    write_file(copy / "vigil.service", rewritten);
    const int rc = run({"systemd-analyze", "verify", "--man=no", copy / "vigil.service"}, &out, 60s);
    INFO("systemd-analyze verify: " << out);
    CHECK(rc == 0);
    CHECK(out.empty());

    // The same check does see a broken unit (so an empty answer means something).
    write_file(copy / "broken.service", replace_all(rewritten, "Delegate=yes", "Delegat=yes"));
    run({"systemd-analyze", "verify", "--man=no", copy / "broken.service"}, &out, 60s);
    CHECK(contains(out, "Unknown key"));
    write_file(copy / "missing.service", replace_all(unit, "/usr/bin/vigild", root / "usr/bin/no-such-vigild"));
    CHECK(run({"systemd-analyze", "verify", "--man=no", copy / "missing.service"}, &out, 60s) != 0);

    // sysusers.d creates group vigil, tmpfiles.d the directories of the
    // example config with the modes vigild expects — here inside the root.
    CHECK(run({"systemd-sysusers", "--root=" + root.path(), "vigil.conf"}, &out, 60s) == 0);
    INFO(out);
    const auto groups = lines_of(read_file(root / "etc/group"));
    CHECK(std::any_of(groups.begin(), groups.end(), [](const std::string& g) { return g.rfind("vigil:x:", 0) == 0; }));
    CHECK(run({"systemd-tmpfiles", "--root=" + root.path(), "--create", "vigil.conf"}, &out, 60s) == 0);
    CHECK(mode_of(root / "run/vigil") == 0755);
    CHECK(mode_of(root / "var/lib/vigil") == 0700);
    CHECK(mode_of(root / "var/log/vigil") == 0750);
}

TEST_CASE("systemd: sd_notify READY after start targets, STATUS, WATCHDOG cadence, RELOADING, STOPPING", "[systemd]") {
    TempDir out;
    NotifyListener notify(out / "notify.sock");
    Vigild v(programs_for_notify(out / "env"));
    v.set_env("NOTIFY_SOCKET", notify.address());
    v.set_env("WATCHDOG_USEC", "400000");  // 400 ms: a ping every 200 ms
    v.set_env("WATCHDOG_PID", std::nullopt);
    const auto started = SysClock::now();
    v.start();
    INFO(v.log_text());

    // READY=1 once both programs are RUNNING, i.e. not before startsecs.
    const auto ready = notify.wait_for("READY=1");
    INFO(notify.dump());
    REQUIRE(ready);
    auto notes = notify.notes();
    CHECK(ms_between(started, notes[*ready].at) >= 950);
    std::string status;
    CHECK(v.ctl({"status"}, &status) == 0);  // exit 0: every process RUNNING
    INFO(status);
    CHECK(std::count(status.begin(), status.end(), '\n') == 2);

    // STATUS= lines: a one-line summary on every change; the last one before
    // READY=1 says everything runs.
    std::vector<std::string> before_ready;
    for (std::size_t i = 0; i < *ready; ++i)
        if (notes[i].text.rfind("STATUS=", 0) == 0) before_ready.push_back(notes[i].text);
    REQUIRE(before_ready.size() >= 2);
    CHECK(before_ready.back() == "STATUS=2 running, 0 not running");
    CHECK(before_ready.front() != before_ready.back());

    // WATCHDOG=1 every WATCHDOG_USEC/2 from the running loop: at least three
    // within a second, never two in a row further apart than the timeout.
    const auto pings = notify.wait_count("WATCHDOG=1", 6, *ready, 10s);
    REQUIRE(pings.size() == 6);
    notes = notify.notes();
    int in_first_second = 0;
    for (std::size_t k = 0; k < pings.size(); ++k) {
        if (ms_between(notes[pings[0]].at, notes[pings[k]].at) <= 1000) ++in_first_second;
        if (k > 0) {
            const auto gap = ms_between(notes[pings[k - 1]].at, notes[pings[k]].at);
            INFO("gap " << k << ": " << gap << " ms");
            CHECK(gap >= 100);
            CHECK(gap < 400);
        }
    }
    CHECK(in_first_second >= 3);

    // The notify socket is vigild's: its children do not inherit it.
    const auto env = wait_for_lines(out / "env", 1);
    REQUIRE(env);
    for (const auto& line : *env) {
        CHECK(line.rfind("NOTIFY_SOCKET=", 0) != 0);
        CHECK(line.rfind("WATCHDOG_USEC=", 0) != 0);
    }
    CHECK(contains(read_file(out / "env"), "VIGIL_PROCESS_NAME=env"));

    // SIGHUP = reload: RELOADING=1, then READY=1 again once it is applied.
    const std::size_t before_hup = notify.notes().size();
    REQUIRE(::kill(v.pid(), SIGHUP) == 0);
    const auto reloading = notify.wait_for("RELOADING=1", before_hup);
    REQUIRE(reloading);
    const auto ready_again = notify.wait_for("READY=1", *reloading);
    REQUIRE(ready_again);
    REQUIRE(v.expect("reload: 0 added, 0 changed, 0 removed, 2 unchanged"));

    // SIGTERM: STOPPING=1 first, then the orderly stop; no READY after it.
    const pid_t vigild = v.pid();
    const std::size_t before_term = notify.notes().size();
    CHECK(v.terminate() == 0);
    const auto stopping = notify.wait_for("STOPPING=1", before_term, 5s);
    REQUIRE(stopping);
    notes = notify.notes();
    for (std::size_t i = *stopping; i < notes.size(); ++i) CHECK(notes[i].text != "READY=1");
    CHECK(std::count_if(notes.begin(), notes.end(), [](const Note& n) { return n.text == "READY=1"; }) == 2);

    // NotifyAccess=main: every message comes from vigild's own pid.
    for (const auto& n : notes) {
        INFO(n.text);
        CHECK(n.pid == vigild);
    }
}

TEST_CASE("systemd: sd_notify to an abstract socket, and no pings when WATCHDOG_PID is another process",
          "[systemd]") {
    TempDir out;
    std::random_device rd;
    NotifyListener notify("@vigil-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    Vigild v(programs_for_notify(out / "env"));
    v.set_env("NOTIFY_SOCKET", notify.address());
    v.set_env("WATCHDOG_USEC", "400000");
    v.set_env("WATCHDOG_PID", "1");  // the watchdog is someone else's
    const auto started = SysClock::now();
    v.start();
    INFO(v.log_text());

    const auto ready = notify.wait_for("READY=1");
    INFO(notify.dump());
    REQUIRE(ready);
    CHECK(ms_between(started, notify.notes()[*ready].at) >= 950);
    const pid_t vigild = v.pid();
    CHECK(v.terminate() == 0);
    REQUIRE(notify.wait_for("STOPPING=1", *ready, 5s));

    // Start to exit took more than a second: five pings' worth, and none came.
    const auto notes = notify.notes();
    CHECK(std::none_of(notes.begin(), notes.end(), [](const Note& n) { return n.text == "WATCHDOG=1"; }));
    CHECK(std::any_of(notes.begin(), notes.end(), [](const Note& n) { return n.text.rfind("STATUS=", 0) == 0; }));
    for (const auto& n : notes) CHECK(n.pid == vigild);
}

TEST_CASE("systemd: cpack builds a .deb with the binaries, unit, tmpfiles, sysusers and config", "[systemd]") {
    TempDir out;
    std::string log;
    const int rc = run({"cpack", "-G", "DEB", "--config", std::string(VIGIL_BUILD_DIR) + "/CPackConfig.cmake", "-B",
                        out.path()},
                       &log, 300s);
    INFO(log);
    REQUIRE(rc == 0);
    std::string deb;
    for (const auto& e : std::filesystem::directory_iterator(out.path())) {
        const std::string name = e.path().filename().string();
        if (name.rfind("vigil_", 0) == 0 && name.size() > 4 && name.substr(name.size() - 4) == ".deb")
            deb = e.path().string();
    }
    REQUIRE(!deb.empty());

    std::string contents;
    REQUIRE(run({"dpkg-deb", "-c", deb}, &contents) == 0);
    INFO(contents);
    for (const char* path : {"./usr/bin/vigild", "./usr/bin/vigilctl", "./usr/lib/systemd/system/vigil.service",
                             "./usr/lib/tmpfiles.d/vigil.conf", "./usr/lib/sysusers.d/vigil.conf",
                             "./etc/vigil/vigil.ini", "./usr/share/doc/vigil/README.md",
                             "./usr/share/man/man1/vigilctl.1.gz", "./usr/share/man/man8/vigild.8.gz",
                             "./usr/share/man/man8/vigil-proxy.8.gz", "./usr/share/man/man5/vigil.ini.5.gz",
                             "./etc/logrotate.d/vigil", "./usr/share/bash-completion/completions/vigilctl"})
        CHECK(contains(contents, std::string(" ") + path + "\n"));
    CHECK_FALSE(contains(contents, "/usr/local"));
    CHECK_FALSE(contains(contents, "_CPack_Packages"));
    for (const auto& line : lines_of(contents))
        if (contains(line, " ./etc/vigil/vigil.ini")) CHECK(line.rfind("-rw-r----- root/root ", 0) == 0);

    std::string field;
    REQUIRE(run({"dpkg-deb", "-f", deb, "Package"}, &field) == 0);
    CHECK(field == "vigil\n");
    std::string depends;
    REQUIRE(run({"dpkg-deb", "-f", deb, "Depends"}, &depends) == 0);
    INFO("Depends: " << depends);
    std::set<std::string> depended;
    {
        std::istringstream in(replace_all(depends, ",", " "));
        for (std::string w; in >> w;)
            if (w[0] != '(' && w.back() != ')') depended.insert(w);
    }
    for (const char* pkg : {"libpq5", "libhiredis0.14", "libssl3", "libedit2"})
        CHECK(depended.count(pkg) == 1);

    std::string control;
    REQUIRE(run({"dpkg-deb", "-I", deb, "conffiles"}, &control) == 0);
    CHECK(control == "/etc/vigil/vigil.ini\n/etc/logrotate.d/vigil\n");
    REQUIRE(run({"dpkg-deb", "-I", deb, "postinst"}, &control) == 0);
    control = code_of(control);
    CHECK(contains(control, "systemd-sysusers"));
    CHECK(contains(control, "systemd-tmpfiles --create"));
    CHECK(contains(control, "systemctl daemon-reload"));
    CHECK(contains(control, "systemctl enable vigil.service"));
    CHECK_FALSE(contains(control, "systemctl start"));
    CHECK_FALSE(contains(control, "restart vigil.service"));
    REQUIRE(run({"dpkg-deb", "-I", deb, "prerm"}, &control) == 0);
    CHECK(contains(control, "systemctl stop vigil.service"));
    REQUIRE(run({"dpkg-deb", "-I", deb, "postrm"}, &control) == 0);

    // Unpacked (not installed): the unit names /usr paths, the stripped
    // vigild runs and accepts the packaged config, and every library a
    // packaged binary links directly comes from a package in Depends.
    TempDir root;
    REQUIRE(run({"dpkg-deb", "-x", deb, root.path()}) == 0);
    CHECK(contains(read_file(root / "usr/lib/systemd/system/vigil.service"),
                   "\nExecStart=/usr/bin/vigild -c /etc/vigil/vigil.ini\n"));
    REQUIRE(run({root / "usr/bin/vigild", "--check", "-c", root / "etc/vigil/vigil.ini"}, &log) == 0);
    CHECK(contains(read_file(root / "etc/logrotate.d/vigil"), "\n        /usr/bin/vigilctl reopen "));
    if (run({"sh", "-c", "command -v man"}) == 0) {
        // `man vigilctl` as an installed package answers it: found through
        // the manual path the package fills, rendered without warnings.
        std::string page, warnings;
        const std::string man = "MANPATH=\"$1/usr/share/man\" MANWIDTH=80 man --warnings vigilctl";
        REQUIRE(run({"sh", "-c", man + " 2>/dev/null", "sh", root.path()}, &page) == 0);
        CHECK(contains(page, "vigilctl - control vigild"));
        CHECK(contains(page, "restart --rolling GROUP"));
        REQUIRE(run({"sh", "-c", man + " 2>&1 >/dev/null", "sh", root.path()}, &warnings) == 0);
        CHECK(warnings.empty());
    }
    std::string needed;
    const std::string script =
        "set -e; for b in \"$1\"/usr/bin/* \"$1\"/usr/lib/vigil/*.so; do"
        "  for so in $(objdump -p \"$b\" | awk '$1 == \"NEEDED\" {print $2}'); do"
        "    case $so in ld-linux*) echo \"libc6 $so $(basename \"$b\")\"; continue;; esac;"
        "    path=$(ldd \"$b\" | awk -v so=\"$so\" '$1 == so {print $3}');"
        "    pkg=$(dpkg -S \"$path\" 2>/dev/null || dpkg -S \"$(readlink -f \"$path\")\");"
        "    echo \"${pkg%%:*} $so $(basename \"$b\")\";"
        "  done; done";
    REQUIRE(run({"sh", "-c", script, "sh", root.path()}, &needed, 120s) == 0);
    INFO(needed);
    for (const auto& line : lines_of(needed)) {
        INFO(line);
        CHECK(depended.count(line.substr(0, line.find(' '))) == 1);
    }
    CHECK_FALSE(contains(needed, "libinih"));  // config/ini_reader.cpp reads INI itself
    INFO("OpenSSL comes with the https checks' plugin, not with vigild itself");
    CHECK(contains(needed, "libssl3 libssl.so.3 vigil-tls.so"));
    CHECK_FALSE(contains(needed, "libssl.so.3 vigild"));
    INFO("vigild speaks the PostgreSQL handshake itself and has spdlog and libstdc++ compiled in");
    CHECK_FALSE(contains(needed, "libpq.so.5 vigild"));
    CHECK_FALSE(contains(needed, "libspdlog"));
    CHECK_FALSE(contains(needed, "libstdc++.so.6 vigild"));
}
