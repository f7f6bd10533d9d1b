#include "supervisor/daemon_settings.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "supervisor/child_signals.hpp"

namespace vigil::supervisor {
namespace {

// supervisord's rule for minfds and minprocs: raise the soft limit to the
// minimum, and the hard one too when it is lower (which only root may do).
std::string at_least(int resource, const char* what, rlim_t minimum, rlimit& out) {
    rlimit lim{};
    if (::getrlimit(resource, &lim) != 0) return std::string("getrlimit: ") + std::strerror(errno);
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < minimum) {
        rlimit want = lim;
        want.rlim_cur = minimum;
        if (want.rlim_max != RLIM_INFINITY && want.rlim_max < minimum) want.rlim_max = minimum;
        if (::setrlimit(resource, &want) != 0)
            return std::string(what) + " = " + std::to_string(minimum) + ": cannot raise the limit from " +
                   std::to_string(lim.rlim_cur) + " (hard " + std::to_string(lim.rlim_max) + "): " +
                   std::strerror(errno) + "; raise it in the environment or lower " + what;
        lim = want;
    }
    out = lim;
    return {};
}

}  // namespace

std::string apply_process_settings(const config::Daemon& d) {
    if (d.umask) ::umask(static_cast<mode_t>(*d.umask));
    if (d.minfds > 0 && child_fd_limit_saved && child_fd_limit.rlim_cur < d.minfds) {
        // vigild's own soft limit is already at its hard one (raise_fd_limit);
        // what changes is the limit its programs get.
        rlimit self{};
        if (::getrlimit(RLIMIT_NOFILE, &self) == 0 && self.rlim_max != RLIM_INFINITY && self.rlim_max < d.minfds) {
            rlimit raised{};
            if (auto err = at_least(RLIMIT_NOFILE, "minfds", d.minfds, raised); !err.empty()) return err;
            child_fd_limit.rlim_max = raised.rlim_max;
        }
        child_fd_limit.rlim_cur = d.minfds;
    }
    if (d.minprocs > 0) {
        rlimit procs{};
        if (auto err = at_least(RLIMIT_NPROC, "minprocs", d.minprocs, procs); !err.empty()) return err;
    }
    return {};
}

std::string setup_daemon_logging(const config::Daemon& d) {
    std::vector<spdlog::sink_ptr> sinks;
    if (!d.silent) sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    try {
        if (!d.logfile.empty()) {
            if (d.logfile_maxbytes > 0)
                sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
                    d.logfile, d.logfile_maxbytes, static_cast<std::size_t>(d.logfile_backups)));
            else
                sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(d.logfile));
        }
    } catch (const std::exception& e) {
        return "logfile " + d.logfile + ": " + e.what();
    }
    auto logger = std::make_shared<spdlog::logger>("vigild", sinks.begin(), sinks.end());
    // journald stamps lines itself; a terminal or a file wants the time.
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l: %v");
    if (!d.silent && std::getenv("JOURNAL_STREAM")) sinks.front()->set_pattern("%l: %v");
    logger->set_level(spdlog::level::from_str(d.log_level));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
    return {};
}

std::string write_pidfile(const config::Daemon& d) {
    if (d.pidfile.empty()) return {};
    std::FILE* f = std::fopen(d.pidfile.c_str(), "w");
    if (!f) return "pidfile " + d.pidfile + ": " + std::strerror(errno);
    std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
    if (std::fclose(f) != 0) return "pidfile " + d.pidfile + ": " + std::strerror(errno);
    return {};
}

void remove_pidfile(const config::Daemon& d) {
    if (!d.pidfile.empty()) ::unlink(d.pidfile.c_str());
}

}  // namespace vigil::supervisor
