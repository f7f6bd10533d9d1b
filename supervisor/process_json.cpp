#include "supervisor/process_json.hpp"

#include <cstdio>

#include "supervisor/cgroup.hpp"
#include "supervisor/control_protocol.hpp"
#include "supervisor/replication/manager.hpp"

namespace vigil::supervisor {
namespace {

using json = nlohmann::json;
namespace field = control::field;

std::string uptime_text(std::chrono::seconds s) {
    const long t = static_cast<long>(s.count());
    char buf[64];
    if (t >= 86400)
        std::snprintf(buf, sizeof buf, "%ld days, %ld:%02ld:%02ld", t / 86400, t % 86400 / 3600, t % 3600 / 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t % 3600 / 60, t % 60);
    return buf;
}

}  // namespace

json process_json(const ProcessRunner& r, const Supervisor& sup, bool with_output) {
    const std::string reason = with_output ? r.exit_reason() : std::string();
    const auto& m = r.machine();
    json j;
    j[field::name] = r.name();
    j[field::group] = r.program().group;
    j[field::program] = r.program().program;
    j[field::state] = std::string(core::state_name(r.state()));
    j[field::pid] = r.pid();
    std::string desc;
    long uptime = 0;
    switch (r.state()) {
        case core::State::running:
        case core::State::starting:
        case core::State::stopping:
            uptime = static_cast<long>(
                std::chrono::duration_cast<std::chrono::seconds>(core::Clock::now() - m.started_at()).count());
            desc = "pid " + std::to_string(r.pid()) + ", uptime " + uptime_text(std::chrono::seconds(uptime));
            break;
        case core::State::backoff:
            desc = (m.last_exit() ? m.last_exit()->describe() : r.spawn_error()) +
                   (reason.empty() ? "" : ": " + reason) + ", restarting in " +
                   std::to_string(m.last_delay().count()) + "ms";
            break;
        case core::State::exited:
            desc = m.last_exit() ? m.last_exit()->describe() : "";
            if (!reason.empty()) desc += ": " + reason;
            break;
        case core::State::fatal:
            desc = !r.spawn_error().empty()  ? r.spawn_error()
                   : reason.empty() ? "exited too quickly"
                                             : "exited too quickly: " + reason;
            break;
        case core::State::stopped: {
            const std::string waiting = sup.waiting_for(r.name());
            desc = !waiting.empty() ? waiting : m.last_exit() ? "stopped" : "not started";
            break;
        }
    }
    // A replicated data store's role and lag, in status' one line too.
    const auto repl = sup.replication() ? sup.replication()->view(r.name()) : std::nullopt;
    if (repl) {
        desc += (desc.empty() ? "" : "; ") + repl->text();
        json rj{{"role", repl->role}, {"primary", repl->primary}, {"synchronous", repl->synchronous},
                {"asynchronous_only", repl->asynchronous_only}, {"operation", repl->operation}};
        if (repl->lag) {
            rj["streaming"] = repl->lag->streaming;
            rj["sync"] = repl->lag->sync;
            rj["lag_bytes"] = repl->lag->bytes;
            rj["lag_seconds"] = repl->lag->seconds.count() / 1000.0;
        }
        rj["pair"] = repl->pair;
        j["replication"] = std::move(rj);
    }
    j[field::description] = with_limits_note(desc, r.limits_not_applied());
    j["limits_not_applied"] = r.limits_not_applied();
    j["uptime"] = uptime;
    j["restarts"] = m.restarts();
    j["exit"] = m.last_exit() ? json(m.last_exit()->describe()) : json(nullptr);
    j["exit_code"] = m.last_exit() && !m.last_exit()->signaled ? json(m.last_exit()->code) : json(nullptr);
    j["backoff_delay_ms"] = m.last_delay().count();
    j["spawn_error"] = r.spawn_error();
    j["exit_reason"] = reason;
    j["waiting_for"] = sup.waiting_for(r.name());
    j["stopped_by_hand"] = sup.stopped_by_hand(r.name());
    j["notify_status"] = r.notify_status();
    const auto h = r.health();
    j[field::health] = h ? std::string(core::health_status_name(*h)) : "";
    return j;
}

}  // namespace vigil::supervisor
