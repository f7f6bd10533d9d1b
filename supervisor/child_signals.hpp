// For code between fork and exec: vigild blocks or handles signals through
// Asio, and a child must start with the defaults (an ignored SIGPIPE or a
// caught SIGTERM would otherwise survive into the program). Likewise the
// file descriptor limit vigild raised for itself. Async-signal-safe.
#pragma once

#include <signal.h>
#include <sys/resource.h>

namespace vigil::supervisor {

inline void reset_signals_for_child() noexcept {
    sigset_t all;
    ::sigfillset(&all);
    ::sigprocmask(SIG_UNBLOCK, &all, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s)
        if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
}

// RLIMIT_NOFILE as vigild was started with, once raise_fd_limit() has run.
inline rlimit child_fd_limit{};
inline bool child_fd_limit_saved = false;

// vigild holds a socket per control connection and pipes, a pidfd and
// timers per program: it takes the hard limit as its soft one (as
// vigil-proxy does) so 1,024 is not its ceiling. Returns the new soft limit.
inline rlim_t raise_fd_limit() noexcept {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
    child_fd_limit = lim;
    child_fd_limit_saved = true;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return child_fd_limit.rlim_cur;
    }
    return lim.rlim_cur;
}

// Programs get the soft limit vigild started with back: one using select(2)
// breaks on a descriptor above 1023, and a limit they never asked for would
// hide their own leaks.
inline void reset_fd_limit_for_child() noexcept {
    if (child_fd_limit_saved) ::setrlimit(RLIMIT_NOFILE, &child_fd_limit);
}

}  // namespace vigil::supervisor
