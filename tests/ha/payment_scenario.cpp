#include "payment_scenario.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

namespace vigil::test {
namespace {

using Clock = std::chrono::steady_clock;

// A payment slower than this counts as stalled by the fault (one takes a
// few milliseconds on loopback, a synchronous commit included).
constexpr Ms kStalled{150};

LoadFigures measure(const Load& load, Clock::time_point t0) {
    LoadFigures f;
    std::vector<Sample> pay;
    for (const auto& x : load.samples()) {
        ++f.requests;
        if (!x.ok) ++(x.kind == 'v' ? f.failed_validations : f.failed_payments);
        if (x.kind == 'p') pay.push_back(x);
    }
    std::optional<Clock::time_point> last_ack;
    std::optional<std::size_t> hit;  // the first payment the fault touched
    for (std::size_t i = 0; i < pay.size(); ++i) {
        const auto& x = pay[i];
        if (x.end > t0) f.slowest_ms = std::max(f.slowest_ms, ms(x.end - x.t));
        if (x.ok) {
            if (last_ack && x.end > t0) f.longest_gap_ms = std::max(f.longest_gap_ms, ms(x.end - *last_ack));
            last_ack = x.end;
            if (f.first_write_ms < 0 && x.t >= t0) f.first_write_ms = ms(x.end - t0);
        }
        if (!hit && x.end > t0 && (!x.ok || x.end - x.t > kStalled)) hit = i;
    }
    if (hit) {
        std::size_t last_failed = *hit;
        for (std::size_t i = *hit; i < pay.size(); ++i)
            if (!pay[i].ok) last_failed = i;
        for (std::size_t i = last_failed; i < pay.size(); ++i)
            if (pay[i].ok) {
                f.unavailable_ms = ms(pay[i].end - pay[*hit].t);
                break;
            }
    }
    f.failures = load.failures();
    return f;
}

}  // namespace

long ms(Clock::duration d) { return static_cast<long>(std::chrono::duration_cast<Ms>(d).count()); }

std::string ms_or_na(long v) { return v < 0 ? std::string("n/a") : std::to_string(v) + " ms"; }

PaymentRun::PaymentRun(const std::string& number, const std::vector<std::pair<std::string, std::string>>& in_sync) {
    {
        const auto up = s.wait_all_healthy(90s);
        INFO(s.v->log_text());
        REQUIRE(up);
    }
    for (const auto& [program, status] : in_sync) REQUIRE(s.wait_status(program, status, 30s));

    const std::string token = s.login("ha" + number + "_" + std::to_string(::getpid()));
    load_ = std::make_unique<Load>(s.internal, token, "ha-" + number + "-");
    load_->start();
    REQUIRE(load_->wait_successes(20, Clock::now(), 20s));
    s.skip_log();
}

LoadFigures PaymentRun::finish(Clock::time_point t0) {
    // Served after it all: the same client, still on its connection.
    REQUIRE(load_->wait_successes(20, Clock::now(), 30s));
    load_->stop();
    LoadFigures f = measure(*load_, t0);
    const auto acked = load_->acknowledged();
    const auto stored = s.stored_payment_keys();
    f.acknowledged = acked.size();
    for (const auto& k : acked) f.lost += stored.count(k) == 0;
    return f;
}

ScenarioTable::ScenarioTable(std::string number, const std::string& fault)
    : number_(std::move(number)), text_("\n| scenario " + number_ + ": " + fault + " | vigil |\n| --- | --- |\n") {}

ScenarioTable& ScenarioTable::row(const std::string& label, const std::string& value) {
    text_ += "| " + label + " | " + value + " |\n";
    return *this;
}

ScenarioTable& ScenarioTable::load_rows(const LoadFigures& f) {
    row("failed requests", std::to_string(f.failed_validations + f.failed_payments) + " of " +
                               std::to_string(f.requests) + " (" + std::to_string(f.failed_validations) +
                               " validations, " + std::to_string(f.failed_payments) + " payments)");
    return row("payments acknowledged / lost", std::to_string(f.acknowledged) + " / " + std::to_string(f.lost));
}

void ScenarioTable::publish(const LoadFigures& f, const std::string& details) const {
    std::cout << text_ << (f.failures.empty() ? "" : "failed requests:\n" + f.failures) << details << std::flush;
    std::error_code ec;
    std::filesystem::create_directories(VIGIL_HA_RESULTS_DIR, ec);
    std::ofstream(std::string(VIGIL_HA_RESULTS_DIR) + "/scenario-" + number_ + ".md") << text_;
}

Kill kill9(Stack& s, const std::string& name, const std::string& remove_first) {
    const pid_t pid = s.pid_of(name);
    REQUIRE(pid > 0);
    if (!remove_first.empty()) {
        REQUIRE(::kill(pid, SIGSTOP) == 0);
        std::filesystem::remove_all(remove_first);
    }
    Kill k;
    k.from = s.v->line_count();
    k.t0 = std::chrono::steady_clock::now();
    REQUIRE(::kill(pid, SIGKILL) == 0);
    k.detected_ms = logged_after(s, name + ": RUNNING -> ", k.from, k.t0, std::chrono::seconds(10));
    return k;
}

}  // namespace vigil::test
