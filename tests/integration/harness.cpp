#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace vigil::test {
namespace {

using Clock = std::chrono::steady_clock;

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int ms_left(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

// Waits for the pidfd of our own child, then reaps it.
int wait_child(pid_t pid, int pidfd, Ms timeout) {
    pollfd p{pidfd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return -1;
    int status = 0;
    if (::waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TempDir::TempDir() {
    char tmpl[] = "/tmp/vigil-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    // VIGIL_KEEP_TEMP=1 keeps it for a post-mortem (the servers' own logs are in it).
    if (const char* keep = std::getenv("VIGIL_KEEP_TEMP"); keep && *keep) {
        std::cerr << "kept " << path_ << " (VIGIL_KEEP_TEMP)\n";
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string child_path() { return std::string(VIGIL_CHILDREN_DIR) + "/test_child"; }

std::string install_reachable(const TempDir& dir, const std::string& binary) {
    namespace fs = std::filesystem;
    const fs::perms rwxr_xr_x = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec;
    fs::permissions(dir.path(), rwxr_xr_x);
    const fs::path bin = fs::path(dir.path()) / "bin";
    fs::create_directories(bin);
    fs::permissions(bin, rwxr_xr_x);
    const fs::path copy = bin / fs::path(binary).filename();
    fs::copy_file(binary, copy, fs::copy_options::overwrite_existing);
    fs::permissions(copy, rwxr_xr_x);
    return copy.string();
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

std::optional<std::vector<std::string>> wait_for_lines(const std::string& path, std::size_t min_lines, Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    const int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    std::optional<std::vector<std::string>> result;
    for (;;) {
        // Watch the deepest directory that exists so far: the file's own
        // directory may not have been created yet.
        std::filesystem::path dir = std::filesystem::path(path).parent_path();
        while (!dir.empty() && !std::filesystem::exists(dir)) dir = dir.parent_path();
        ::inotify_add_watch(in, dir.c_str(), IN_CREATE | IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE);
        // Check after arming the watch so no write slips between the two.
        auto lines = lines_of(read_file(path));
        if (lines.size() >= min_lines) {
            result = std::move(lines);
            break;
        }
        pollfd p{in, POLLIN, 0};
        if (::poll(&p, 1, ms_left(deadline)) <= 0) break;
        char buf[4096];
        while (::read(in, buf, sizeof buf) > 0) {
        }
    }
    ::close(in);
    return result;
}

std::size_t count_in(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}

bool wait_for_text(const std::string& path, const std::string& needle, std::size_t times, Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    const int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    bool found = false;
    for (;;) {
        std::filesystem::path dir = std::filesystem::is_directory(path) ? std::filesystem::path(path) : std::filesystem::path(path).parent_path();
        while (!dir.empty() && !std::filesystem::exists(dir)) dir = dir.parent_path();
        ::inotify_add_watch(in, dir.c_str(), IN_CREATE | IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE);
        std::string text;
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) {
            for (const auto& e : std::filesystem::directory_iterator(path, ec)) text += read_file(e.path().string());
        } else {
            text = read_file(path);
        }
        if (count_in(text, needle) >= times) {
            found = true;
            break;
        }
        const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
        pollfd p{in, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
        char buf[4096];
        while (::read(in, buf, sizeof buf) > 0) {
        }
    }
    ::close(in);
    return found;
}

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    ::close(fd);
    if (!ok) throw std::runtime_error("no free loopback port");
    return ntohs(a.sin_port);
}

bool wait_gone(pid_t pid, Ms timeout) {
    const int fd = pidfd_open(pid);
    if (fd < 0) return errno == ESRCH;
    pollfd p{fd, POLLIN, 0};
    const bool gone = ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
    ::close(fd);
    return gone;
}

void skip(const std::string& why) {
    std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
    std::fflush(stderr);
    std::_Exit(kSkipCode);
}

Vigild::Vigild(const std::string& programs, const std::string& log_level, const std::string& vigil_keys) {
    std::string cfg = "[vigil]\ncontrol_socket = " + (dir_ / "vigil.sock") + "\nstate_dir = " + (dir_ / "state") +
                      "\nlog_dir = " + (dir_ / "log") + "\nlog_level = " + log_level + "\n" + vigil_keys + "\n" +
                      programs;
    write_file(config_path(), cfg);
}

Vigild::~Vigild() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        if (wait_child(pid_, pidfd_, 15s) < 0) {
            ::kill(pid_, SIGKILL);
            wait_child(pid_, pidfd_, 5s);
        }
    }
    if (reader_.joinable()) reader_.join();
    if (pidfd_ >= 0) ::close(pidfd_);
}

void Vigild::start(std::vector<std::string> extra_args, std::vector<std::string> wrapper) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw std::runtime_error("pipe failed");
    // A second start() (vigild restarted on the same dirs) continues the log.
    if (pidfd_ >= 0) ::close(pidfd_);
    {
        std::lock_guard lock(mu_);
        eof_ = false;
    }
    std::vector<std::string> args = std::move(wrapper);
    for (const char* a : {VIGILD_PATH, "-c"}) args.push_back(a);
    args.push_back(config_path());
    for (auto& a : extra_args) args.push_back(std::move(a));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The environment is built before fork: the child may not allocate.
    std::vector<std::string> env_strings;
    for (char** e = environ; e && *e; ++e) {
        const std::string kv(*e);
        const std::string name = kv.substr(0, kv.find('='));
        bool overridden = false;
        for (const auto& [k, v] : env_) overridden = overridden || k == name;
        if (!overridden) env_strings.push_back(kv);
    }
    for (const auto& [k, v] : env_)
        if (v) env_strings.push_back(k + "=" + *v);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(fds[1], 2);
        ::dup2(fds[1], 1);
        ::execvpe(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    pidfd_ = pidfd_open(pid_);
    reader_ = std::thread([this, fd = fds[0]] { read_loop(fd); });
    // The control socket is bound before this line: tests may use vigilctl
    // as soon as start() returns. (A vigild that fails to start ends its
    // output instead, which ends the wait too.)
    const std::size_t cursor = cursor_;
    expect("vigild [0-9.]+ starting", 10s);
    cursor_ = cursor;
}

void Vigild::set_env(const std::string& name, std::optional<std::string> value) {
    for (auto& [k, v] : env_)
        if (k == name) {
            v = std::move(value);
            return;
        }
    env_.emplace_back(name, std::move(value));
}

void Vigild::read_loop(int fd) {
    std::string partial;
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        partial.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        std::lock_guard lock(mu_);
        while ((nl = partial.find('\n')) != std::string::npos) {
            lines_.push_back(partial.substr(0, nl));
            partial.erase(0, nl + 1);
        }
        cv_.notify_all();
    }
    ::close(fd);
    std::lock_guard lock(mu_);
    if (!partial.empty()) lines_.push_back(partial);
    eof_ = true;
    cv_.notify_all();
}

std::optional<std::string> Vigild::expect(const std::string& re, Ms timeout) {
    const std::regex pattern(re);
    std::unique_lock lock(mu_);
    std::optional<std::string> found;
    cv_.wait_for(lock, timeout, [&] {
        for (; cursor_ < lines_.size(); ++cursor_) {
            if (std::regex_search(lines_[cursor_], pattern)) {
                found = lines_[cursor_++];
                return true;
            }
        }
        return eof_;
    });
    return found;
}

std::size_t Vigild::line_count() const {
    std::lock_guard lock(mu_);
    return lines_.size();
}

bool Vigild::wait_for_more(std::size_t seen, Ms timeout) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return lines_.size() > seen || eof_; }) && lines_.size() > seen;
}

bool Vigild::output_ended() const {
    std::lock_guard lock(mu_);
    return eof_;
}

std::optional<std::size_t> Vigild::find_line(const std::string& re, std::size_t from) const {
    const std::regex pattern(re);
    std::lock_guard lock(mu_);
    for (std::size_t i = from; i < lines_.size(); ++i)
        if (std::regex_search(lines_[i], pattern)) return i;
    return std::nullopt;
}

std::vector<std::string> Vigild::log() const {
    std::lock_guard lock(mu_);
    return lines_;
}

std::string Vigild::log_text() const {
    std::string out;
    for (const auto& l : log()) out += l + "\n";
    return out;
}

int Vigild::terminate(Ms timeout) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    return wait_exit(timeout);
}

int Vigild::wait_exit(Ms timeout) {
    const int rc = wait_child(pid_, pidfd_, timeout);
    if (rc >= 0) {
        pid_ = -1;
        if (reader_.joinable()) reader_.join();
    }
    return rc;
}

int Vigild::ctl(const std::vector<std::string>& args, std::string* out, Ms timeout) const {
    std::vector<std::string> argv{VIGILCTL_PATH, "-s", socket_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, out, timeout);
}

SocketClient::SocketClient(const std::string& socket) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

SocketClient::~SocketClient() {
    if (fd_ >= 0) ::close(fd_);
}

void SocketClient::send(const std::string& bytes) {
    if (fd_ >= 0) [[maybe_unused]] auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

bool SocketClient::read_until(const std::string& needle, Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    while (received_.find(needle) == std::string::npos) {
        pollfd p{fd_, POLLIN, 0};
        if (fd_ < 0 || ::poll(&p, 1, ms_left(deadline)) <= 0) return false;
        char buf[4096];
        const ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n <= 0) return false;
        received_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
}

std::string raw_exchange(const std::string& socket, const std::string& bytes, Ms timeout, bool half_close) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        ::close(fd);
        return "connect failed";
    }
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    if (half_close) ::shutdown(fd, SHUT_WR);
    const auto deadline = Clock::now() + timeout;
    std::string out;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, ms_left(deadline)) <= 0) break;
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

int run(const std::vector<std::string>& args, std::string* output, Ms timeout) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return -1;
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(fds[1], 1);
        ::dup2(fds[1], 2);
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    const int pidfd = pidfd_open(pid);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    const int rc = wait_child(pid, pidfd, timeout);
    ::close(pidfd);
    if (output) *output = out;
    return rc;
}

std::vector<ProcInfo> all_processes() {
    std::vector<ProcInfo> out;
    DIR* d = ::opendir("/proc");
    while (dirent* e = ::readdir(d)) {
        const pid_t pid = std::atoi(e->d_name);
        if (pid <= 0) continue;
        const std::string stat = read_file("/proc/" + std::string(e->d_name) + "/stat");
        const auto close = stat.rfind(')');
        if (close == std::string::npos || close + 4 >= stat.size()) continue;
        std::istringstream rest(stat.substr(close + 2));
        ProcInfo info{pid, 0, '?'};
        rest >> info.state >> info.ppid;
        out.push_back(info);
    }
    ::closedir(d);
    return out;
}

std::vector<pid_t> zombie_children(pid_t parent) {
    std::vector<pid_t> out;
    for (const auto& p : all_processes())
        if (p.ppid == parent && p.state == 'Z') out.push_back(p.pid);
    return out;
}

namespace {
std::string without_trailing_space(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}
}  // namespace

std::string psql(int port, const std::string& query) {
    std::string out;
    if (run({"psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", std::to_string(port),
             "-U", "postgres", "-d", "postgres", "-c", query},
            &out) == 0)
        return without_trailing_space(out);
    std::cerr << "psql: " << out;
    return "error";
}

std::vector<std::string> asides_of(const std::string& data_dir) {
    std::vector<std::string> out;
    const std::filesystem::path p(data_dir);
    for (const auto& e : std::filesystem::directory_iterator(p.parent_path()))
        if (e.path().filename().string().rfind(p.filename().string() + ".before-restore-", 0) == 0)
            out.push_back(e.path().string());
    return out;
}

}  // namespace vigil::test
