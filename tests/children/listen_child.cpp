// A socket-activated server written the way sd_listen_fds(3) reads its
// sockets: LISTEN_PID must be this process, LISTEN_FDS counts descriptors
// from 3, LISTEN_FDNAMES names them; the variables are unset afterwards so
// they do not leak to children. It answers each connection with one line
// ("pid PID fd FD name NAME") and closes it.
//   --stdin      the socket is fd 0 instead (supervisord's [fcgi-program:x])
//   --serve N    exit 3 after N connections (a crash, for respawn tests)
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* why) {
    std::fprintf(stderr, "listen_child: %s\n", why);
    return 2;
}

bool is_listening_socket(int fd) {
    struct stat st {};
    int listening = 0;
    socklen_t len = sizeof listening;
    return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
           ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

}  // namespace

int main(int argc, char** argv) {
    bool on_stdin = false;
    long serve = -1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--stdin") on_stdin = true;
        else if (a == "--serve" && i + 1 < argc) serve = std::strtol(argv[++i], nullptr, 10);
        else return fail("usage: listen_child [--stdin] [--serve N]");
    }

    std::vector<int> fds;
    std::vector<std::string> names;
    if (on_stdin) {
        fds.push_back(0);
        names.push_back("stdin");
    } else {
        const char* pid = std::getenv("LISTEN_PID");
        const char* n = std::getenv("LISTEN_FDS");
        if (!pid || !n) return fail("LISTEN_PID or LISTEN_FDS not set");
        if (std::strtol(pid, nullptr, 10) != ::getpid()) return fail("LISTEN_PID is not my pid");
        const long count = std::strtol(n, nullptr, 10);
        if (count <= 0) return fail("LISTEN_FDS is not a positive number");
        std::string all = std::getenv("LISTEN_FDNAMES") ? std::getenv("LISTEN_FDNAMES") : "";
        for (long i = 0; i < count; ++i) {
            fds.push_back(3 + static_cast<int>(i));
            const auto colon = all.find(':');
            names.push_back(all.substr(0, colon));
            all = colon == std::string::npos ? "" : all.substr(colon + 1);
        }
        ::unsetenv("LISTEN_PID");
        ::unsetenv("LISTEN_FDS");
        ::unsetenv("LISTEN_FDNAMES");
    }
    for (int fd : fds)
        if (!is_listening_socket(fd)) return fail("a passed descriptor is not a listening socket");
    // Nothing beyond the passed sockets may be inherited.
    if (!on_stdin && ::fcntl(3 + static_cast<int>(fds.size()), F_GETFD) >= 0) return fail("an extra fd is open");

    std::vector<pollfd> watch;
    for (int fd : fds) watch.push_back(pollfd{fd, POLLIN, 0});
    for (long served = 0;;) {
        if (::poll(watch.data(), watch.size(), -1) < 0) {
            if (errno == EINTR) continue;
            return fail("poll failed");
        }
        for (std::size_t i = 0; i < watch.size(); ++i) {
            if (!(watch[i].revents & POLLIN)) continue;
            const int c = ::accept(fds[i], nullptr, nullptr);
            if (c < 0) continue;
            const std::string line = "pid " + std::to_string(::getpid()) + " fd " + std::to_string(fds[i]) +
                                     " name " + names[i] + "\n";
            [[maybe_unused]] auto w = ::write(c, line.data(), line.size());
            ::close(c);
            if (serve > 0 && ++served >= serve) return 3;
        }
    }
}
