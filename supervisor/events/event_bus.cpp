#include "supervisor/events/event_bus.hpp"

#include <algorithm>
#include <chrono>
#include <spdlog/spdlog.h>

#include "supervisor/supervisor.hpp"

namespace vigil::supervisor::events {
namespace {

bool has_process(core::State s) {
    return s == core::State::starting || s == core::State::running || s == core::State::stopping;
}

bool expected_exit(const ProcessRunner& r) {
    const auto exit = r.machine().last_exit();
    if (!exit || exit->signaled) return false;
    const auto& codes = r.program().exitcodes;
    return std::find(codes.begin(), codes.end(), exit->code) != codes.end();
}

// Output vigild must read for events: a listener's protocol, or a program's
// PROCESS_LOG / PROCESS_COMMUNICATION.
bool needs_output(const config::Program& p) {
    return !p.listener_pool.empty() || p.stdout_events_enabled || p.stderr_events_enabled ||
           p.stdout_capture_maxbytes > 0 || p.stderr_capture_maxbytes > 0;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

EventBus::EventBus(boost::asio::io_context& io, Supervisor& sup) : io_(io), sup_(sup) {
    observer_ = sup_.subscribe([this](const ProcessRunner& r, const core::Decision& d) { on_transition(r, d); });
    update_observer_ = sup_.subscribe_update([this](const core::ConfigDiff&) { on_update(); });
    sync_pools();
}

EventBus::~EventBus() {
    *alive_ = false;
    sup_.unsubscribe(observer_);
    sup_.unsubscribe(update_observer_);
    for (auto& [_, w] : watched_)
        if (auto r = w.runner.lock()) r->unsubscribe_output(w.id);
    for (auto& t : tick_timers_)
        if (t) t->cancel();
}

void EventBus::start() {
    started_ = true;
    groups_ = group_names();
    // supervisord adds groups in priority order, listener pools (-1) first.
    std::vector<std::pair<int, std::string>> ordered;
    for (const auto& g : groups_) {
        int priority = 999;
        for (const auto& p : sup_.config().programs)
            if (p.group == g) priority = std::min(priority, p.priority);
        for (const auto& gr : sup_.config().groups)
            if (gr.name == g) priority = gr.priority;
        ordered.emplace_back(priority, g);
    }
    std::sort(ordered.begin(), ordered.end());
    for (const auto& [_, g] : ordered) publish("PROCESS_GROUP_ADDED", group_payload(g));
    publish("SUPERVISOR_STATE_CHANGE_RUNNING", "");
    for (std::size_t i = 0; i < kTickPeriods.size(); ++i) arm_tick(i);
}

void EventBus::stopping() { publish("SUPERVISOR_STATE_CHANGE_STOPPING", ""); }

void EventBus::remote_communication(const std::string& type, const std::string& data) {
    publish("REMOTE_COMMUNICATION", remote_payload(type, data));
}

std::size_t EventBus::publish(std::string type, std::string payload) {
    std::shared_ptr<Published> shared;
    std::size_t taken = 0;
    for (auto& [_, pool] : pools_) {
        if (!pool->wants(type)) continue;
        // Numbered only when some pool takes it, as supervisord does.
        if (!shared) shared = std::make_shared<Published>(Published{Event{type, payload}, next_serial_++});
        pool->accept(shared);
        ++taken;
    }
    return taken;
}

const EventListenerPool* EventBus::pool(const std::string& name) const {
    auto it = pools_.find(name);
    return it == pools_.end() ? nullptr : it->second.get();
}

std::set<std::string> EventBus::group_names() const {
    std::set<std::string> out;
    for (const auto& p : sup_.config().programs) out.insert(p.group);
    return out;
}

void EventBus::sync_pools() {
    const auto& configured = sup_.config().event_listeners;
    for (auto it = pools_.begin(); it != pools_.end();) {
        const bool kept = std::any_of(configured.begin(), configured.end(),
                                      [&](const config::EventListenerPool& c) { return c.name == it->first; });
        if (!kept && it->second->buffered() > 0)
            spdlog::info("pool {} removed with {} events it had not delivered", it->first, it->second->buffered());
        it = kept ? std::next(it) : pools_.erase(it);
    }
    for (const auto& c : configured) {
        auto& slot = pools_[c.name];
        if (!slot) slot = std::make_unique<EventListenerPool>(io_, sup_, c);
        else if (!(slot->config() == c)) slot->reconfigure(c);
    }
}

// supervisorctl update's group events: a group that appears or disappears.
void EventBus::on_update() {
    sync_pools();
    if (!started_) return;
    const auto now = group_names();
    for (const auto& g : groups_)
        if (!now.count(g)) publish("PROCESS_GROUP_REMOVED", group_payload(g));
    for (const auto& g : now)
        if (!groups_.count(g)) publish("PROCESS_GROUP_ADDED", group_payload(g));
    groups_ = now;
    for (std::size_t i = 0; i < kTickPeriods.size(); ++i)
        if (!tick_timers_[i]) arm_tick(i);
}

void EventBus::watch(const ProcessRunner& r) {
    if (!needs_output(r.program())) return;
    Watch& w = watched_[r.name()];
    if (auto current = w.runner.lock(); current.get() == &r) return;
    // A new runner for this name (first start, or replaced by an update).
    ProcessRunner* live = sup_.find(r.name());
    if (live != &r) return;
    w.runner = live->shared_from_this();
    w.out = CommCapture(r.program().stdout_capture_maxbytes);
    w.err = CommCapture(r.program().stderr_capture_maxbytes);
    const std::string name = r.name();
    w.id = live->subscribe_output([this, name](int fd, std::string_view data) { on_output(name, fd, data); });
}

void EventBus::on_transition(const ProcessRunner& r, const core::Decision& d) {
    const config::Program& p = r.program();
    // A listener added by an update starts before the update's observers
    // run: its pool must exist for its first transition.
    if (!p.listener_pool.empty() && !pools_.count(p.listener_pool)) sync_pools();
    if (pools_.empty()) return;  // nothing to tell anyone: no text is built
    watch(r);
    if (r.pid() > 0) watched_[r.name()].last_pid = r.pid();
    if (!d.changed()) return;
    if (!p.listener_pool.empty())
        if (auto it = pools_.find(p.listener_pool); it != pools_.end()) it->second->on_transition(r, d.from, d.to);
    ProcessFacts f;
    f.name = p.name;
    f.group = p.group;
    f.tries = r.machine().failed_starts();
    f.expected = expected_exit(r);
    const pid_t last = watched_[r.name()].last_pid;
    f.pid = r.pid() > 0 ? r.pid() : (has_process(d.from) ? last : 0);
    for (auto& e : process_state_events(d.from, d.to, f)) publish(std::move(e.type), std::move(e.payload));
}

void EventBus::on_output(const std::string& process, int fd, std::string_view data) {
    ProcessRunner* r = sup_.find(process);
    if (!r || pools_.empty()) return;
    const config::Program& p = r->program();
    if (fd == 1 && !p.listener_pool.empty()) {
        if (auto it = pools_.find(p.listener_pool); it != pools_.end()) it->second->on_output(process, data);
        return;
    }
    Watch& w = watched_[process];
    const bool out = fd == 1;
    const bool log_events = out ? p.stdout_events_enabled : p.stderr_events_enabled;
    const std::uint64_t capture = out ? p.stdout_capture_maxbytes : p.stderr_capture_maxbytes;
    const std::string_view channel = out ? "stdout" : "stderr";
    const int pid = r->pid() > 0 ? r->pid() : w.last_pid;
    auto log = [&](std::string_view text) {
        if (log_events && !text.empty())
            publish(out ? "PROCESS_LOG_STDOUT" : "PROCESS_LOG_STDERR",
                    process_log_payload(p.name, p.group, pid, channel, text));
    };
    if (capture == 0) return log(data);
    for (auto& piece : (out ? w.out : w.err).feed(data)) {
        if (!piece.communication) {
            log(piece.data);
            continue;
        }
        spdlog::debug("'{}' {} emitted a comm event", process, channel);
        publish(out ? "PROCESS_COMMUNICATION_STDOUT" : "PROCESS_COMMUNICATION_STDERR",
                communication_payload(p.name, p.group, pid, piece.data));
    }
}

// supervisord's tick(): an event when the period's time slice rolls over,
// `when` being the slice's start. Armed only while some pool wants it, so an
// idle vigild without tick listeners never wakes for them.
void EventBus::arm_tick(std::size_t i) {
    const int period = kTickPeriods[i];
    const std::string type = "TICK_" + std::to_string(period);
    bool wanted = false;
    for (const auto& [_, pool] : pools_) wanted |= pool->wants(type);
    if (!wanted) {
        tick_timers_[i].reset();
        return;
    }
    if (!tick_timers_[i]) tick_timers_[i] = std::make_unique<boost::asio::steady_timer>(io_);
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
    if (last_tick_[i] == 0) last_tick_[i] = unix_now() / period * period;
    const auto wait = std::chrono::milliseconds(period * 1000 - ms % (period * 1000) + 5);
    tick_timers_[i]->expires_after(wait);
    tick_timers_[i]->async_wait([this, alive = alive_, i, period, type](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        const std::int64_t slice = unix_now() / period * period;
        if (slice != last_tick_[i]) {
            last_tick_[i] = slice;
            publish(type, tick_payload(slice));
        }
        arm_tick(i);
    });
}

}  // namespace vigil::supervisor::events
