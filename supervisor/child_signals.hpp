// For code between fork and exec: vigild blocks or handles signals through
// Asio, and a child must start with the defaults (an ignored SIGPIPE or a
// caught SIGTERM would otherwise survive into the program). Async-signal-safe.
#pragma once

#include <signal.h>

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

}  // namespace vigil::supervisor
