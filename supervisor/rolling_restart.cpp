#include "supervisor/rolling_restart.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "supervisor/control_protocol.hpp"

namespace vigil::supervisor {
namespace {

using json = nlohmann::json;

std::string line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; }

}  // namespace

RollingRestart::RollingRestart(Supervisor& sup, std::string spec, std::shared_ptr<ProgressFeed> feed)
    : sup_(sup), spec_(std::move(spec)), feed_(std::move(feed)) {}

void RollingRestart::start(const std::vector<std::string>& names, const core::RollOptions& options) {
    sup_.roll(names, options, [self = shared_from_this()](const core::Command& c) { self->report(c); });
}

void RollingRestart::report(const core::Command& c) {
    namespace field = control::field;
    const char* step = control::to_string(c.step);
    const long ms = static_cast<long>(c.elapsed.count());
    if (c.type == core::Command::Type::roll_done) {
        if (c.ok) spdlog::info("rolling restart of {}: done, {}", spec_, c.reason);
        feed_->push(line({{field::step, control::to_string(control::RollStep::done)},
                          {field::ok, c.ok},
                          {field::restarted, c.names},
                          {field::untouched, c.untouched},
                          {field::message, c.reason},
                          {field::ms, ms}}));
        return feed_->finish();
    }
    if (c.step == control::RollStep::start) {
        spdlog::info("rolling restart of {}: {}", spec_, c.reason);
        return feed_->push(line({{field::step, step}, {field::names, c.names}}));
    }
    if (c.step == control::RollStep::failed)
        spdlog::warn("rolling restart of {} stopped at {}: {}", spec_, c.name, c.reason);
    spdlog::info("rolling restart of {}: {}: {}: {}", spec_, c.name, step, c.reason);
    feed_->push(line({{field::step, step}, {field::name, c.name}, {field::message, c.reason}, {field::ms, ms}}));
}

}  // namespace vigil::supervisor
