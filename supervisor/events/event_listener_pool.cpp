#include "supervisor/events/event_listener_pool.hpp"

#include <signal.h>

#include <algorithm>
#include <spdlog/spdlog.h>

#include "config/event_types.hpp"
#include "supervisor/supervisor.hpp"

namespace vigil::supervisor::events {

EventListenerPool::EventListenerPool(boost::asio::io_context& io, Supervisor& sup, config::EventListenerPool config)
    : io_(io), sup_(sup), config_(std::move(config)) {}

EventListenerPool::~EventListenerPool() {
    *alive_ = false;
    for (auto& [_, l] : listeners_) l->ready_timer.cancel();
}

void EventListenerPool::reconfigure(config::EventListenerPool config) {
    config_ = std::move(config);
    while (buffer_.size() > static_cast<std::size_t>(config_.buffer_size)) buffer_.pop_front();
    dispatch();
}

bool EventListenerPool::wants(std::string_view type) const {
    return std::any_of(config_.events.begin(), config_.events.end(),
                       [&](const std::string& s) { return config::event_type_matches(s, type); });
}

EventListenerPool::Listener& EventListenerPool::listener(const std::string& process) {
    auto& slot = listeners_[process];
    if (!slot) slot = std::make_unique<Listener>(io_);
    return *slot;
}

void EventListenerPool::accept(std::shared_ptr<const Published> e) {
    push(Queued{std::move(e), next_pool_serial_++}, false);
    dispatch();
}

// supervisord's _acceptEvent: a full buffer loses its oldest event, loudly.
void EventListenerPool::push(Queued q, bool head) {
    if (buffer_.size() >= static_cast<std::size_t>(config_.buffer_size) && !buffer_.empty()) {
        spdlog::error("pool {} event buffer overflowed, discarding event {}", config_.name,
                      buffer_.front().published->serial);
        buffer_.pop_front();
    }
    if (head) buffer_.push_front(std::move(q));
    else buffer_.push_back(std::move(q));
}

void EventListenerPool::dispatch() {
    while (!buffer_.empty()) {
        bool sent = false;
        for (const auto& name : config_.processes) {
            ProcessRunner* r = sup_.find(name);
            if (!r || r->state() != core::State::running) continue;
            Listener& l = listener(name);
            if (l.protocol.state() != ListenerState::ready) continue;
            Queued q = buffer_.front();
            const std::string text = envelope(sup_.config().daemon.identifier, q.published->serial, config_.name, q.pool_serial,
                                              q.published->event);
            // No stdin means the process just went away; its exit is on its way.
            if (!r->write_stdin(text)) continue;
            buffer_.pop_front();
            l.protocol.sent();
            spdlog::debug("event {} sent to listener {}", q.published->serial, name);
            l.holding = std::move(q);
            sent = true;
            break;
        }
        if (!sent) return;
    }
}

void EventListenerPool::give_back(Listener& l) {
    if (!l.holding) return;
    push(std::move(*l.holding), true);
    l.holding.reset();
}

void EventListenerPool::arm_ready_timer(const std::string& process, Listener& l) {
    cancel_ready_timer(l);
    if (config_.ready_timeout.count() == 0) return;
    const unsigned gen = l.timer_generation;
    l.ready_timer.expires_after(config_.ready_timeout);
    l.ready_timer.async_wait([this, alive = alive_, process, gen](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        auto it = listeners_.find(process);
        if (it == listeners_.end() || it->second->timer_generation != gen) return;
        Listener& l = *it->second;
        if (l.protocol.state() != ListenerState::acknowledged) return;
        violated(process, l,
                 "no READY within ready_timeout=" + std::to_string(config_.ready_timeout.count()) + "ms");
    });
}

void EventListenerPool::cancel_ready_timer(Listener& l) {
    ++l.timer_generation;
    l.ready_timer.cancel();
}

// supervisord leaves such a listener in UNKNOWN for good, receiving nothing;
// vigil ends it so that it is restarted (or not) by its autorestart policy.
void EventListenerPool::violated(const std::string& process, Listener& l, const std::string& why) {
    cancel_ready_timer(l);
    give_back(l);
    ProcessRunner* r = sup_.find(process);
    const pid_t pid = r ? r->pid() : 0;
    spdlog::warn("{}: violated the eventlistener protocol ({}): killing pid {}; it restarts as a crashed program would",
                 process, why, pid);
    if (pid > 0 && ::kill(-pid, SIGKILL) < 0) ::kill(pid, SIGKILL);
    dispatch();
}

void EventListenerPool::on_output(const std::string& process, std::string_view data) {
    Listener& l = listener(process);
    for (auto& step : l.protocol.feed(data)) {
        switch (step.kind) {
            case ListenerProtocol::Step::Kind::ready:
                cancel_ready_timer(l);
                spdlog::debug("{}: ACKNOWLEDGED -> READY", process);
                break;
            case ListenerProtocol::Step::Kind::result:
                arm_ready_timer(process, l);
                // supervisord's default_handler: OK accepts, anything else rejects.
                if (step.text == "OK") {
                    spdlog::debug("{}: event was processed", process);
                    l.holding.reset();
                } else {
                    spdlog::warn("{}: event was rejected", process);
                    give_back(l);
                }
                break;
            case ListenerProtocol::Step::Kind::violation: violated(process, l, step.text); return;
        }
    }
    dispatch();
}

void EventListenerPool::on_transition(const ProcessRunner& r, core::State from, core::State to) {
    Listener& l = listener(r.name());
    const bool had_process = from == core::State::starting || from == core::State::running ||
                             from == core::State::stopping;
    // A new process starts ACKNOWLEDGED; one that ended gives back its event
    // (supervisord's EventRejectedEvent on finish()).
    if (had_process && to != core::State::running && to != core::State::stopping) {
        cancel_ready_timer(l);
        give_back(l);
        l.protocol.reset();
    }
    if (to == core::State::starting) {
        l.protocol.reset();
        arm_ready_timer(r.name(), l);
    }
    dispatch();
}

}  // namespace vigil::supervisor::events
