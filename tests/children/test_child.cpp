// A light, scriptable child for the integration tests. Flags, in any order:
//   --record FILE      append "<pid> <pgid>\n" to FILE at start
//   --fds FILE         write the open fd numbers (from /proc/self/fd) to FILE
//   --ignore-term      ignore SIGTERM (tests stop escalation to SIGKILL)
//   --grandchild FILE  fork a grandchild into our group that writes its pid
//                      to FILE and waits forever
//   --orphan FILE      fork a child that forks a grandchild and exits at
//                      once; the grandchild writes its pid to FILE and exits,
//                      leaving an orphan for the subreaper to reap
//   --print TEXT       write TEXT and a newline to stdout; --eprint to stderr
//   --spam N           write N bytes of 'x' lines to stdout
//   --alloc MB         allocate and touch MB mebibytes (past a memory limit)
//   --forks N FILE     try to fork N children that wait; write how many
//                      forks succeeded to FILE (against a pids limit)
//   --notify MSG       send MSG (e.g. READY=1) to $NOTIFY_SOCKET (sd_notify)
//   --exit CODE        exit with CODE right after the above (default: wait)
//   --ticks MS         then write "tick N" (N = 0, 1, …) to stdout every MS ms,
//                      at most a million lines (a steady stream to lose none of)
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <string>

namespace {

void append(const char* file, const std::string& text) {
    const int fd = ::open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    [[maybe_unused]] auto n = ::write(fd, text.data(), text.size());
    ::close(fd);
}

void write_fds(const char* file) {
    std::string out;
    DIR* d = ::opendir("/proc/self/fd");
    const int own = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        const int fd = std::atoi(e->d_name);
        if (fd != own) out += std::to_string(fd) + "\n";
    }
    ::closedir(d);
    // Write through a temp name so a reader never sees a half-written list.
    const std::string tmp = std::string(file) + ".tmp";
    append(tmp.c_str(), out);
    ::rename(tmp.c_str(), file);
}

[[noreturn]] void wait_forever() {
    for (;;) ::pause();
}

}  // namespace

int main(int argc, char** argv) {
    int exit_code = -1;
    int tick_ms = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : "";
        if (a == "--record") {
            append(v, std::to_string(::getpid()) + " " + std::to_string(::getpgrp()) + "\n");
            ++i;
        } else if (a == "--fds") {
            write_fds(v);
            ++i;
        } else if (a == "--ignore-term") {
            ::signal(SIGTERM, SIG_IGN);
        } else if (a == "--grandchild") {
            if (::fork() == 0) {
                append(v, std::to_string(::getpid()) + "\n");
                wait_forever();
            }
            ++i;
        } else if (a == "--orphan") {
            const pid_t mid = ::fork();
            if (mid == 0) {
                if (::fork() == 0) {
                    append(v, std::to_string(::getpid()) + "\n");
                    ::_exit(0);
                }
                ::_exit(0);
            }
            ::waitpid(mid, nullptr, 0);  // the grandchild alone is the orphan
            ++i;
        } else if (a == "--print" || a == "--eprint") {
            std::fprintf(a == "--print" ? stdout : stderr, "%s\n", v);
            std::fflush(nullptr);
            ++i;
        } else if (a == "--spam") {
            long n = std::atol(v);
            std::string line(99, 'x');
            line += '\n';
            for (; n > 0; n -= 100) [[maybe_unused]] auto w = ::write(1, line.data(), line.size());
            ++i;
        } else if (a == "--alloc") {
            const std::size_t bytes = std::strtoull(v, nullptr, 10) << 20;
            char* p = static_cast<char*>(std::malloc(bytes));
            for (std::size_t o = 0; p && o < bytes; o += 4096) p[o] = 1;  // touch: make it resident
            ++i;
        } else if (a == "--forks") {
            const int n = std::atoi(v);
            int ok = 0;
            for (int k = 0; k < n; ++k) {
                const pid_t c = ::fork();
                if (c == 0) wait_forever();
                if (c > 0) ++ok;
            }
            append(i + 2 < argc ? argv[i + 2] : "/dev/null", std::to_string(ok) + "\n");
            i += 2;
        } else if (a == "--notify") {
            const char* path = std::getenv("NOTIFY_SOCKET");
            if (path && *path) {
                sockaddr_un addr{};
                addr.sun_family = AF_UNIX;
                std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
                if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
                const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + std::strlen(path));
                [[maybe_unused]] auto n = ::sendto(fd, v, std::strlen(v), 0, reinterpret_cast<sockaddr*>(&addr), len);
                ::close(fd);
            }
            ++i;
        } else if (a == "--exit") {
            exit_code = std::atoi(v);
            ++i;
        } else if (a == "--ticks") {
            tick_ms = std::atoi(v);
            ++i;
        }
    }
    if (exit_code >= 0) return exit_code;
    for (long n = 0; tick_ms > 0 && n < 1000000; ++n) {
        std::printf("tick %ld\n", n);
        std::fflush(stdout);
        const timespec pace{tick_ms / 1000, (tick_ms % 1000) * 1000000L};
        ::nanosleep(&pace, nullptr);
    }
    wait_forever();
}
