#include "supervisor/reexec.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/version.hpp"
#include "supervisor/control_server.hpp"
#include "supervisor/sd_notify.hpp"
#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {
namespace reexec {
namespace {

constexpr int kHandled[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR2, SIGCHLD, SIGPWR};

sigset_t handled_set() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : kHandled) sigaddset(&set, s);
    return set;
}

bool set_cloexec(int fd, bool on) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) return false;
    return ::fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC) == 0;
}

bool write_all(int fd, const std::string& data) {
    for (std::size_t done = 0; done < data.size();) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

}  // namespace

std::string binary_path() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "";
    std::string path(buf, static_cast<std::size_t>(n));
    constexpr std::string_view kDeleted = " (deleted)";
    if (path.size() > kDeleted.size() && path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0)
        path.resize(path.size() - kDeleted.size());
    return path;
}

void block_signals() {
    const sigset_t set = handled_set();
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

void unblock_signals() {
    const sigset_t set = handled_set();
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

std::optional<State> read_state(int fd, std::string& error) {
    std::string text;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(text.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = std::string("cannot read the state: ") + std::strerror(errno);
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto state = from_json(text, error);
    // Open across the exec on purpose; from here on they are the new
    // image's own and must not leak into the programs it starts.
    if (state) {
        for (int carried : state->fds()) set_cloexec(carried, true);
        close_inherited(state->fds());  // what the old image left open by mistake (a log file)
    }
    return state;
}

void close_inherited(const std::vector<int>& keep) {
    // close_range(3, ~0U, 0) is Linux 5.9; the /proc walk works everywhere.
    std::vector<int> fds;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        const int own = ::dirfd(d);
        while (const dirent* e = ::readdir(d)) {
            const int fd = std::atoi(e->d_name);
            if (fd > 2 && fd != own && std::find(keep.begin(), keep.end(), fd) == keep.end()) fds.push_back(fd);
        }
        ::closedir(d);
    }
    for (int fd : fds) ::close(fd);
}

}  // namespace reexec

Reexecutor::Reexecutor(Supervisor& sup, ControlServer& server, const SdNotify& notify, Reloader reload,
                       std::vector<std::string> argv, std::uint64_t reexecs)
    : sup_(sup), server_(server), notify_(notify), reload_(std::move(reload)), argv_(std::move(argv)),
      reexecs_(reexecs) {}

std::string Reexecutor::refusal() const {
    if (std::string why = sup_.carry_refusal(); !why.empty()) return why;
    if (reexec::binary_path().empty()) return "cannot find vigild's binary (/proc/self/exe)";
    // The new image reads the config file again: it must describe what runs.
    auto loaded = reload_();
    if (!loaded.ok() || !loaded.config) {
        const std::string first = loaded.errors.empty() ? "" : ": " + loaded.errors.front().to_string();
        return "the config file does not load" + first + "; fix it first";
    }
    const auto d = sup_.plan(*loaded.config);
    if (!d.added.empty() || !d.changed.empty() || !d.removed.empty()) {
        std::string what;
        if (!d.added.empty()) what += "added: " + reexec::join(d.added);
        if (!d.changed.empty()) what += std::string(what.empty() ? "" : "; ") + "changed: " + reexec::join(d.changed);
        if (!d.removed.empty()) what += std::string(what.empty() ? "" : "; ") + "removed: " + reexec::join(d.removed);
        return "the config file differs from what runs (" + what + "); run `vigilctl update` first";
    }
    const auto& now = sup_.config().daemon;
    const auto& next = loaded.config->daemon;
    if (now.control_socket != next.control_socket || now.state_dir != next.state_dir ||
        now.log_dir != next.log_dir || now.socket_group != next.socket_group)
        return "the config file changes [vigil] control_socket, socket_group, state_dir or log_dir, which only a "
               "restart of vigild applies";
    return "";
}

void Reexecutor::begin() {
    server_.quiesce([this] {
        if (std::string why = refusal(); !why.empty()) {
            ++failures_;
            last_error_ = "refused: " + why;
            spdlog::warn("re-exec {}", last_error_);
        } else {
            run();
        }
        server_.resume_accepting();  // reached only when this image goes on
    });
}

std::string Reexecutor::run() {
    reexec::State state = sup_.carry();
    state.from_version = vigil::kVersion;
    state.reexecs = reexecs_ + 1;
    state.control_fd = server_.unix_listener();
    state.tcp_fd = server_.tcp_listener();
    const std::string binary = reexec::binary_path();

    auto fail = [&](std::string why, const std::vector<int>& opened) {
        for (int fd : opened) reexec::set_cloexec(fd, true);
        reexec::unblock_signals();
        ++failures_;
        last_error_ = std::move(why);
        spdlog::error("re-exec failed, this vigild goes on: {}", last_error_);
        notify_.send("READY=1");
        return last_error_;
    };

    const int memfd = ::memfd_create("vigild-reexec-state", MFD_CLOEXEC);
    if (memfd < 0) return fail(std::string("memfd_create: ") + std::strerror(errno), {});
    if (!reexec::write_all(memfd, reexec::to_json(state))) {
        const std::string why = std::string("writing the state: ") + std::strerror(errno);
        ::close(memfd);
        return fail(why, {});
    }

    std::vector<int> opened;
    for (int fd : state.fds()) {
        if (!reexec::set_cloexec(fd, false)) {
            const std::string why = "fd " + std::to_string(fd) + ": " + std::strerror(errno);
            ::close(memfd);
            return fail(why, opened);
        }
        opened.push_back(fd);
    }
    reexec::set_cloexec(memfd, false);

    std::vector<std::string> args;
    for (std::size_t i = 0; i < argv_.size(); ++i) {
        if (argv_[i] == "--reexec-state") {
            ++i;  // and its value
            continue;
        }
        args.push_back(argv_[i]);
    }
    args.push_back("--reexec-state");
    args.push_back(std::to_string(memfd));
    std::vector<char*> cargv;
    for (auto& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);

    notify_.send("RELOADING=1");
    spdlog::info("re-executing {} in place: {} processes and {} descriptors carried over", binary,
                 state.processes.size(), opened.size());
    spdlog::default_logger()->flush();
    reexec::block_signals();
    ::execv(binary.c_str(), cargv.data());
    const std::string why = "execv " + binary + ": " + std::strerror(errno);
    ::close(memfd);
    return fail(why, opened);
}

}  // namespace vigil::supervisor
