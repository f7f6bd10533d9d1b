#include "log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <memory>

namespace vigil::services {
namespace {

// Constructed directly (not through spdlog's registry, which throws on a
// duplicate name) and never destroyed, so worker threads that log during
// process exit cannot touch a dead logger.
spdlog::logger* make(const char* name, spdlog::sink_ptr sink) {
    auto* logger = new spdlog::logger(name, std::move(sink));
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc));
    logger->flush_on(spdlog::level::trace);  // one line per event, visible at once under vigild
    return logger;
}

}  // namespace

spdlog::logger& access_log() {
    static spdlog::logger* logger = make("access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    return *logger;
}

spdlog::logger& service_log() {
    static spdlog::logger* logger = make("service", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    return *logger;
}

}  // namespace vigil::services
