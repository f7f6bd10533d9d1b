// Two loggers: one access line per request on stdout (what vigild captures
// as the program's stdout log), warnings and state changes on stderr.
// Neither ever receives a token, a password or a request body.
#pragma once

#include <spdlog/logger.h>

namespace vigil::services {

spdlog::logger& access_log();
spdlog::logger& service_log();

}  // namespace vigil::services
