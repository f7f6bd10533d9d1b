#include "supervisor/health/health_monitor.hpp"

#include <random>

#include <spdlog/spdlog.h>

namespace vigil::health {
namespace {

std::uint64_t seed_from(std::uint64_t seed) {
    if (seed != 0) return seed;
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

std::shared_ptr<HealthMonitor> HealthMonitor::create(boost::asio::io_context& io, std::string name,
                                                     const config::HealthCheck& hc, OnChange on_change) {
    return create(io, std::move(name), hc, std::move(on_change), Options{});
}

std::shared_ptr<HealthMonitor> HealthMonitor::create(boost::asio::io_context& io, std::string name,
                                                     const config::HealthCheck& hc, OnChange on_change,
                                                     Options options) {
    auto probe = make_probe(io, hc, options.exec);
    if (!probe) return nullptr;
    std::shared_ptr<Probe> startup;
    if (!hc.startup.empty()) {
        // The startup check runs with the main check's timeout.
        config::HealthCheck s = hc.startup.front();
        s.timeout = hc.timeout;
        startup = make_probe(io, s, options.exec);
    }
    core::HealthPolicy policy = core::HealthPolicy::from(hc);
    policy.startup_gate = startup != nullptr;
    return create(io, std::move(name), policy, std::move(probe), std::move(startup), std::move(on_change),
                  std::move(options));
}

std::shared_ptr<HealthMonitor> HealthMonitor::create(boost::asio::io_context& io, std::string name,
                                                     core::HealthPolicy policy, std::shared_ptr<Probe> probe,
                                                     std::shared_ptr<Probe> startup, OnChange on_change,
                                                     Options options) {
    if (!probe) return nullptr;
    policy.startup_gate = startup != nullptr;
    return std::shared_ptr<HealthMonitor>(new HealthMonitor(io, std::move(name), policy, std::move(probe),
                                                            std::move(startup), std::move(on_change),
                                                            std::move(options)));
}

HealthMonitor::HealthMonitor(boost::asio::io_context& io, std::string name, core::HealthPolicy policy,
                             std::shared_ptr<Probe> probe, std::shared_ptr<Probe> startup, OnChange on_change,
                             Options options)
    : name_(std::move(name)),
      tracker_(policy),
      own_rng_(options.rng ? 1 : seed_from(options.seed)),
      rng_(options.rng ? *options.rng : own_rng_),
      probe_(std::move(probe)),
      startup_(std::move(startup)),
      timer_(io),
      on_change_(std::move(on_change)),
      history_size_(options.history) {}

HealthMonitor::~HealthMonitor() {
    probe_->cancel();
    if (startup_) startup_->cancel();
}

void HealthMonitor::start() {
    stop();
    running_ = true;
    tracker_.reset(core::Clock::now());
    schedule();
}

void HealthMonitor::resume(const core::HealthTracker::Snapshot& state, std::uint64_t passed, std::uint64_t failed,
                           std::deque<HealthRecord> history) {
    stop();
    running_ = true;
    tracker_.restore(state);
    passed_ = passed;
    failed_ = failed;
    history_ = std::move(history);
    while (history_.size() > history_size_) history_.pop_front();
    schedule();
}

void HealthMonitor::stop() {
    ++gen_;
    running_ = false;
    timer_.cancel();
    probe_->cancel();
    if (startup_) startup_->cancel();
}

void HealthMonitor::schedule() {
    const core::TimePoint now = core::Clock::now();
    timer_.expires_at(core::coalesce(now + tracker_.next_delay(now, rng_), tracker_.base_interval(now)));
    timer_.async_wait([weak = weak_from_this(), gen = gen_](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || gen != self->gen_) return;
        self->check();
    });
}

void HealthMonitor::check() {
    const bool startup = !tracker_.gate_open() && startup_;
    Probe& probe = startup ? *startup_ : *probe_;
    // Small enough for std::function to hold without a heap block. `this`
    // is safe: the probes are cancelled (never call back) before the
    // monitor goes, and the callback holds the monitor while it runs.
    probe.run([this, tag = gen_ * 2 + (startup ? 1 : 0)](ProbeResult r) {
        const auto self = shared_from_this();
        self->on_result(tag / 2, tag % 2 != 0, std::move(r));
    });
}

void HealthMonitor::on_result(std::uint64_t gen, bool startup, ProbeResult result) {
    if (gen != gen_ || !running_) return;
    (result.ok ? passed_ : failed_)++;
    HealthRecord local;
    HealthRecord* rec = &local;
    if (history_size_ > 0) {
        // The oldest record is reused for the newest: its detail keeps its
        // storage, so a steady check allocates nothing here.
        if (history_.size() >= history_size_) {
            HealthRecord old = std::move(history_.front());
            history_.pop_front();
            history_.push_back(std::move(old));
            while (history_.size() > history_size_) history_.pop_front();
        } else {
            history_.emplace_back();
        }
        rec = &history_.back();
    }
    rec->at = std::chrono::system_clock::now();
    rec->ok = result.ok;
    rec->startup = startup;
    rec->latency = result.latency;
    rec->detail.assign(result.detail);
    spdlog::debug("{}: {}check {} in {}us: {}", name_, startup ? "startup " : "", result.ok ? "passed" : "failed",
                  result.latency.count(), result.detail);
    if (on_result_) on_result_(*rec);
    if (gen != gen_) return;  // on_result_ stopped or restarted us

    const core::TimePoint now = core::Clock::now();
    if (startup) {
        if (tracker_.record_startup(result.ok, now))
            spdlog::info("{}: startup check passed, health checks begin", name_);
    } else {
        const Status before = tracker_.status();
        if (tracker_.record(result.ok, now) == core::HealthChange::changed && on_change_) {
            on_change_(before, tracker_.status(), result);
            if (gen != gen_) return;  // on_change_ stopped or restarted us
        }
    }
    schedule();
}

}  // namespace vigil::health
