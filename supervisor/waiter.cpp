#include "supervisor/waiter.hpp"

#include <cstdio>

namespace vigil::supervisor {
namespace {

using json = nlohmann::json;

// Down and staying down (core::is_down counts BACKOFF too, which comes back).
bool stays_down(core::State s) {
    return s == core::State::stopped || s == core::State::exited || s == core::State::fatal;
}

}  // namespace

Waiter::Waiter(boost::asio::io_context& io, Supervisor& sup, Done done)
    : timer_(io), sup_(sup), done_(std::move(done)) {}

const char* Waiter::goal_name(Goal g) {
    switch (g) {
        case Goal::up:
        case Goal::restarted:
        case Goal::running: return "RUNNING";
        case Goal::healthy: return "healthy";
        case Goal::down:
        case Goal::stopped: return "stopped";
    }
    return "";
}

void Waiter::add(const std::string& name, Goal goal) {
    pending_[name] = goal;
    order_.push_back(name);
}

void Waiter::start(std::chrono::milliseconds timeout) {
    auto self = shared_from_this();
    state_sub_ = sup_.subscribe([self](const ProcessRunner& r, const core::Decision& d) { self->on_change(r, &d); });
    health_sub_ = sup_.subscribe_health(
        [self](const ProcessRunner& r, core::HealthStatus, core::HealthStatus, const std::string&) {
            self->on_change(r, nullptr);
        });
    for (auto it = pending_.begin(); it != pending_.end();) {
        const ProcessRunner* r = sup_.find(it->first);
        if (!r) {
            result(nullptr, it->first, false, "no such process");
            it = pending_.erase(it);
            continue;
        }
        it = check(*r, it->second, nullptr) ? pending_.erase(it) : std::next(it);
    }
    timeout_ = timeout;
    if (pending_.empty() || timeout.count() <= 0) return pending_.empty() ? finish() : on_timeout();
    timer_.expires_after(timeout);
    timer_.async_wait([self](const boost::system::error_code& ec) {
        if (!ec && !self->done_called_) self->on_timeout();
    });
}

// Records a result and returns true when `r` has reached (or can no longer
// reach) its goal. `d` is the state change just seen, null for a look at the
// current state or a health change.
bool Waiter::check(const ProcessRunner& r, Goal goal, const core::Decision* d) {
    const core::State s = r.state();
    switch (goal) {
        case Goal::down:
        case Goal::stopped: return stays_down(s) && result(&r, r.name(), true, "stopped");
        case Goal::restarted:
            if (d == nullptr) return false;  // must see it go down first
            [[fallthrough]];
        case Goal::up:
            if (s == core::State::running) return result(&r, r.name(), true, "started");
            if (s == core::State::fatal)
                return result(&r, r.name(), false, r.spawn_error().empty() ? "gave up" : r.spawn_error());
            if (s == core::State::backoff && d && d->from == core::State::starting)
                return result(&r, r.name(), false,
                              "failed to start: " + (!r.spawn_error().empty() ? r.spawn_error()
                                                     : r.exit_reason().empty()
                                                         ? d->reason
                                                         : r.exit_reason() + " (" + d->reason + ")"));
            if (s == core::State::exited && d) return result(&r, r.name(), false, d->reason);
            return false;
        case Goal::running:
        case Goal::healthy:
            if (s == core::State::running) {
                if (goal == Goal::running) return result(&r, r.name(), true, "running");
                if (!r.monitor()) return result(&r, r.name(), true, "running (no healthcheck)");
                return r.health() == core::HealthStatus::healthy && result(&r, r.name(), true, "healthy");
            }
            // States that nothing but an operator leaves: waiting longer
            // would only turn a clear answer into a timeout.
            if (s == core::State::fatal)
                return result(&r, r.name(), false,
                              "FATAL: " + (!r.spawn_error().empty() ? r.spawn_error()
                                           : r.exit_reason().empty() ? "gave up"
                                                                     : r.exit_reason()));
            if (s == core::State::exited)
                return result(&r, r.name(), false, "EXITED and autorestart leaves it down");
            if (s == core::State::stopped && sup_.stopped_by_hand(r.name()))
                return result(&r, r.name(), false, "stopped by hand (vigilctl start it)");
            return false;
    }
    return false;
}

void Waiter::on_change(const ProcessRunner& r, const core::Decision* d) {
    auto it = pending_.find(r.name());
    if (done_called_ || it == pending_.end()) return;
    if (it->second == Goal::restarted) {
        if (d && (d->to == core::State::stopping || d->to == core::State::starting)) it->second = Goal::up;
        return;
    }
    if (check(r, it->second, d)) pending_.erase(it);
    if (pending_.empty()) finish();
}

void Waiter::on_timeout() {
    timed_out_ = !pending_.empty();
    char within[48];
    std::snprintf(within, sizeof within, " within %gs", static_cast<double>(timeout_.count()) / 1000);
    for (const auto& [name, goal] : pending_) {
        const ProcessRunner* r = sup_.find(name);
        std::string now = r ? std::string(core::state_name(r->state())) : "GONE";
        if (r && r->health()) now += ", health " + std::string(core::health_status_name(*r->health()));
        result(r, name, false, std::string("not ") + goal_name(goal) + within + ", it is " + now);
    }
    pending_.clear();
    finish();
}

bool Waiter::result(const ProcessRunner* r, const std::string& name, bool ok, const std::string& message) {
    std::string health;
    if (r && r->health()) health = core::health_status_name(*r->health());
    results_[name] = {{"name", name},
                      {"ok", ok},
                      {"state", r ? std::string(core::state_name(r->state())) : "GONE"},
                      {"health", health},
                      {"message", message}};
    ok_ = ok_ && ok;
    return true;
}

void Waiter::finish() {
    if (done_called_) return;
    done_called_ = true;
    timer_.cancel();
    sup_.unsubscribe(state_sub_);
    sup_.unsubscribe(health_sub_);
    // Reported in the order asked (start order), not the order finished.
    json ordered = json::array();
    for (const auto& name : order_)
        if (auto it = results_.find(name); it != results_.end()) ordered.push_back(it->second);
    done_(ok_, timed_out_, std::move(ordered));
}

}  // namespace vigil::supervisor
