// The supervised program of the supervisor benchmark: as light as a child can
// be, so that what is measured is the supervisor, not the child.
//
// On start it sends one datagram "<pid> <CLOCK_MONOTONIC ns>" to the Unix
// datagram socket named by argv[1] (or $VIGIL_BENCH_SOCK), then waits for a
// signal forever. The timestamp is taken first thing in main(): it marks the
// moment the supervisor's spawn reached the child's own code.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>

int main(int argc, char** argv) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);

    const char* path = argc > 1 ? argv[1] : std::getenv("VIGIL_BENCH_SOCK");
    if (path == nullptr || std::strlen(path) >= sizeof(sockaddr_un::sun_path)) {
        std::fprintf(stderr, "usage: bench_child SOCKET (or VIGIL_BENCH_SOCK=SOCKET)\n");
        return 2;
    }

    char msg[64];
    const long long ns = static_cast<long long>(now.tv_sec) * 1'000'000'000LL + now.tv_nsec;
    const int len = std::snprintf(msg, sizeof msg, "%d %lld", static_cast<int>(getpid()), ns);

    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path);

    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::perror("bench_child: socket");
        return 1;
    }
    // Blocking send on purpose: when 200 children start at once the driver's
    // receive queue (net.unix.max_dgram_qlen, often 10) fills up, and a
    // blocked sender just waits for the driver instead of losing its hello.
    ssize_t sent;
    do {
        sent = sendto(fd, msg, static_cast<size_t>(len), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        std::perror("bench_child: sendto");
        return 1;
    }
    close(fd);

    // A supervisor may hand us ignored or blocked signals; its stop signal
    // must end us at once, as it would a well-behaved daemon.
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) std::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    for (;;) sigsuspend(&none);
}
