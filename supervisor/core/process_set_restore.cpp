// Carrying the set across vigild's re-exec: what the old image knew is
// taken as is, and only what is half-way through a change is refused.
#include "supervisor/core/process_set.hpp"

namespace vigil::core {

Commands ProcessSet::restore(const std::map<std::string, Carried>& carried, TimePoint) noexcept {
    Commands out;
    for (const auto& [name, c] : carried) {
        auto it = procs_.find(name);
        if (it == procs_.end()) continue;
        Proc& p = it->second;
        p.intent = c.intent;
        p.state = c.state;
        p.pid = c.pid;
        p.health = c.pid > 0 ? c.health : std::nullopt;
        p.startup = false;  // the start-up this flag tracks was the old image's
    }
    // The link to the proxy is new: it gets the whole view again, which
    // changes nothing in a proxy that already had it.
    if (proxy_up()) resync(out);
    settle(out);
    return out;
}

std::string ProcessSet::carry_refusal() const noexcept {
    if (shutting_down_) return "vigild is shutting down";
    for (const auto& name : order_) {
        const Proc& p = procs_.at(name);
        if (p.intent == Intent::replacing) return "an update is replacing " + name + "; try again once it is done";
    }
    if (!member_hold_.empty())
        return "a rolling restart holds " + member_hold_.begin()->first + "; try again once it is done";
    if (!waits_.empty()) return "a client is waiting for programs to reach a state (wait/start/stop); try again once it is answered";
    return "";
}

}  // namespace vigil::core
