#include "supervisor/rolling_restart.hpp"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "proxy/admin_protocol.hpp"
#include "supervisor/core/duration_text.hpp"
#include "supervisor/proxy_link.hpp"

namespace vigil::supervisor {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

}  // namespace

RollingRestart::RollingRestart(boost::asio::io_context& io, Supervisor& sup, ProxyLink* proxy, std::string spec,
                               std::vector<std::string> names, Options options, std::shared_ptr<ProgressFeed> feed,
                               std::shared_ptr<std::set<std::string>> busy)
    : io_(io), sup_(sup), proxy_(proxy), spec_(std::move(spec)), names_(std::move(names)), options_(options),
      feed_(std::move(feed)), busy_(std::move(busy)), deadline_(io), poll_(io) {}

long RollingRestart::ms_since(Clock::time_point t) const {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

void RollingRestart::emit(const std::string& step, const std::string& message) {
    spdlog::info("rolling restart of {}: {}: {}: {}", spec_, current_, step, message);
    feed_->push(json{{"step", step}, {"name", current_}, {"message", message}, {"ms", ms_since(instance_began_)}}
                    .dump(-1, ' ', false, json::error_handler_t::replace) +
                "\n");
}

void RollingRestart::start() {
    began_ = Clock::now();
    auto self = shared_from_this();
    state_sub_ = sup_.subscribe([self](const ProcessRunner& r, const core::Decision& d) { self->on_state(r, d); });
    health_sub_ = sup_.subscribe_health(
        [self](const ProcessRunner& r, core::HealthStatus, core::HealthStatus to, const std::string&) {
            self->on_health(r, to);
        });
    spdlog::info("rolling restart of {}: {}", spec_, join(names_));
    feed_->push(json{{"step", "start"}, {"names", names_}}.dump(-1, ' ', false, json::error_handler_t::replace) +
                "\n");
    next();
}

void RollingRestart::next() {
    ++gen_;
    deadline_.cancel();
    poll_.cancel();
    if (index_ == names_.size()) {
        current_.clear();
        return finish(true, std::to_string(restarted_.size()) + " restarted");
    }
    current_ = names_[index_++];
    instance_began_ = Clock::now();
    pools_.clear();
    if (sup_.shutting_down()) return fail("vigild is shutting down");
    const ProcessRunner* r = sup_.find(current_);
    if (!r) {
        emit("skipped", "no longer in the config");
        return boost::asio::post(io_, [self = shared_from_this()] { self->next(); });
    }
    if (sup_.stopped_by_hand(current_)) {
        emit("skipped", "stopped by hand, left alone");
        return boost::asio::post(io_, [self = shared_from_this()] { self->next(); });
    }
    if (proxy_ && proxy_->proxy_running()) pools_ = proxy_->pools_of(current_);
    if (pools_.empty()) return restart();
    drain();
}

void RollingRestart::drain() {
    phase_ = Phase::draining;
    const unsigned g = gen_;
    const ProcessRunner* r = sup_.find(current_);
    const auto timeout = options_.drain_timeout ? *options_.drain_timeout
                                                : (r ? r->program().stopwaitsecs : std::chrono::milliseconds(10000));
    proxy_->hold(current_, "draining", [self = shared_from_this(), g, timeout](int status, std::string body) {
        if (g != self->gen_) return;
        if (status != 200) {
            self->emit("draining", "vigil-proxy did not take it (" +
                                       (status == 0 ? body : "HTTP " + std::to_string(status)) +
                                       "); restarting without a drain");
            return self->restart();
        }
        self->emit("draining", "out of pool " + join(self->pools_) + ", waiting up to " + core::duration_text(timeout) +
                                   " for its active requests");
        self->drain_deadline_ = Clock::now() + timeout;
        // The proxy applies a change on its workers just after answering:
        // the first count is taken a poll interval later.
        self->poll_.expires_after(kDrainPoll);
        self->poll_.async_wait([self, g](const boost::system::error_code& ec) {
            if (!ec && g == self->gen_) self->poll_active();
        });
    });
}

// Asks the proxy for the instance's requests in flight in each of its pools.
void RollingRestart::poll_active() {
    struct Tally {
        std::size_t left;
        long active = 0;
        bool known = true;
    };
    auto tally = std::make_shared<Tally>(Tally{pools_.size()});
    const unsigned g = gen_;
    for (const auto& pool : pools_) {
        proxy_->get(proxy::admin::server(pool, current_),
                    [self = shared_from_this(), g, tally](int status, std::string body) {
                        const auto j = json::parse(body, nullptr, false);
                        if (status == 200 && j.is_object() && j.contains("active") && j["active"].is_number())
                            tally->active += j["active"].get<long>();
                        else
                            tally->known = false;
                        if (--tally->left > 0 || g != self->gen_) return;
                        if (tally->known && tally->active == 0) {
                            self->emit("drained", "no active requests");
                            return self->restart();
                        }
                        if (Clock::now() >= self->drain_deadline_) {
                            self->emit("drain_timeout",
                                       tally->known ? std::to_string(tally->active) +
                                                          " requests still active; stopping it anyway"
                                                    : "vigil-proxy does not answer; stopping it anyway");
                            return self->restart();
                        }
                        self->poll_.expires_after(kDrainPoll);
                        self->poll_.async_wait([self, g](const boost::system::error_code& ec) {
                            if (!ec && g == self->gen_) self->poll_active();
                        });
                    });
    }
}

void RollingRestart::restart() {
    ++gen_;
    poll_.cancel();
    if (sup_.shutting_down()) return fail("vigild is shutting down");
    ProcessRunner* r = sup_.find(current_);
    if (!r) return fail("no longer in the config");
    phase_ = Phase::restarting;
    old_pid_ = r->pid();
    const unsigned g = gen_;
    deadline_.expires_after(options_.timeout);
    deadline_.async_wait([self = shared_from_this(), g](const boost::system::error_code& ec) {
        if (ec || g != self->gen_) return;
        if (self->phase_ == Phase::restarting)
            self->fail("not RUNNING within " + core::duration_text(self->options_.timeout));
        else if (self->phase_ == Phase::healthy_wait)
            self->fail("not healthy within " + core::duration_text(self->options_.timeout));
    });
    // Transitions (and so on_state) may happen inside this call.
    sup_.request_restart(*r);
}

void RollingRestart::on_state(const ProcessRunner& r, const core::Decision& d) {
    if (r.name() != current_ || (phase_ != Phase::restarting && phase_ != Phase::healthy_wait)) return;
    if (sup_.shutting_down()) return fail("vigild is shutting down");
    if (d.from == core::State::stopping && d.to != core::State::stopping && phase_ == Phase::restarting)
        emit("stopped", r.machine().last_exit() ? r.machine().last_exit()->describe() : d.reason);
    if (d.to == core::State::fatal)
        return fail("gave up: " + (r.spawn_error().empty() ? d.reason : r.spawn_error()));
    if (d.to == core::State::exited && d.changed()) return fail("exited: " + d.reason);
    if (d.to == core::State::running && phase_ == Phase::restarting && r.pid() > 0 && r.pid() != old_pid_) {
        emit("started", "pid " + std::to_string(r.pid()));
        if (!r.monitor()) return became_healthy();
        phase_ = Phase::healthy_wait;
        if (r.health() && *r.health() == core::HealthStatus::healthy) became_healthy();
    }
}

void RollingRestart::on_health(const ProcessRunner& r, core::HealthStatus to) {
    if (r.name() != current_ || phase_ != Phase::healthy_wait) return;
    if (to == core::HealthStatus::healthy && r.pid() > 0 && r.pid() != old_pid_ && r.state() == core::State::running)
        became_healthy();
}

void RollingRestart::became_healthy() {
    ++gen_;
    deadline_.cancel();
    const ProcessRunner* r = sup_.find(current_);
    if (r && r->monitor()) emit("healthy", r->program().health.target);
    restarted_.push_back(current_);
    back_in();
}

void RollingRestart::back_in() {
    if (pools_.empty() || !proxy_ || !proxy_->held(current_)) {
        // Not from inside the Supervisor's observer call that got us here.
        phase_ = Phase::idle;
        return boost::asio::post(io_, [self = shared_from_this()] { self->next(); });
    }
    phase_ = Phase::returning;
    const unsigned g = gen_;
    proxy_->release(current_, [self = shared_from_this(), g](int status, std::string body) {
        if (g != self->gen_) return;
        if (status == 200) self->emit("up", "back in pool " + join(self->pools_));
        else
            self->emit("up", "vigil-proxy was not told (" + (status == 0 ? body : "HTTP " + std::to_string(status)) +
                                 "); its next resync will");
        self->phase_ = Phase::idle;
        self->next();
    });
}

void RollingRestart::fail(const std::string& message) {
    ++gen_;
    deadline_.cancel();
    poll_.cancel();
    phase_ = Phase::done;
    emit("failed", message);
    spdlog::warn("rolling restart of {} stopped at {}: {}", spec_, current_, message);
    std::string summary = current_ + ": " + message;
    const std::size_t untouched = names_.size() - index_;
    if (untouched > 0) summary += "; " + std::to_string(untouched) + " left untouched";
    // Released, the instance is what vigild's own view says (down while
    // unhealthy, up once it recovers), not stuck draining.
    if (proxy_ && proxy_->held(current_)) {
        proxy_->release(current_, [self = shared_from_this(), summary](int, std::string) {
            self->finish(false, summary);
        });
        return;
    }
    finish(false, summary);
}

void RollingRestart::finish(bool ok, const std::string& message) {
    phase_ = Phase::done;
    deadline_.cancel();
    poll_.cancel();
    sup_.unsubscribe(state_sub_);
    sup_.unsubscribe(health_sub_);
    for (const auto& n : names_) busy_->erase(n);
    const std::vector<std::string> untouched(names_.begin() + static_cast<long>(index_), names_.end());
    if (ok) spdlog::info("rolling restart of {}: done, {}", spec_, message);
    feed_->push(json{{"step", "done"},
                     {"ok", ok},
                     {"restarted", restarted_},
                     {"untouched", untouched},
                     {"message", message},
                     {"ms", ms_since(began_)}}
                    .dump(-1, ' ', false, json::error_handler_t::replace) +
                "\n");
    feed_->finish();
}

}  // namespace vigil::supervisor
