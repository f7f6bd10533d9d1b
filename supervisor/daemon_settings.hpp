// [supervisord]'s process-wide settings applied to vigild itself: umask,
// minfds, minprocs, the pid file and vigild's own log (file, rotation,
// silent). Each apply step returns an error message (empty when fine), and
// vigild refuses to start on one, as supervisord does.
#pragma once

#include <string>

#include "config/model.hpp"

namespace vigil::supervisor {

// umask, and the fd and process limits programs inherit. Runs after
// raise_fd_limit(): minfds raises child_fd_limit, the limit programs get.
std::string apply_process_settings(const config::Daemon& d);

// The default logger: stderr (unless silent) plus `logfile` when set.
std::string setup_daemon_logging(const config::Daemon& d);

// Writes getpid() to d.pidfile; remove_pidfile() at a clean exit.
std::string write_pidfile(const config::Daemon& d);
void remove_pidfile(const config::Daemon& d);

}  // namespace vigil::supervisor
