#include "supervisor/reexec_state.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace vigil::supervisor::reexec {
namespace {

using json = nlohmann::json;

// Steady-clock times as nanoseconds since its epoch (boot): CLOCK_MONOTONIC
// is the same clock on both sides of the exec.
std::int64_t ticks(core::TimePoint t) { return t.time_since_epoch().count(); }
core::TimePoint at(std::int64_t n) { return core::TimePoint(core::Clock::duration(n)); }

template <typename E, std::size_t N>
E parse_enum(const std::string& text, const std::array<E, N>& values, auto name_of, const char* what) {
    for (E v : values)
        if (name_of(v) == text) return v;
    throw std::runtime_error(std::string("unknown ") + what + " '" + text + "'");
}

constexpr std::array kStates{core::State::stopped, core::State::starting, core::State::running,
                             core::State::backoff, core::State::stopping, core::State::exited, core::State::fatal};
constexpr std::array kIntents{core::Intent::down, core::Intent::stopped_by_hand, core::Intent::pending,
                              core::Intent::held, core::Intent::up, core::Intent::replacing};
constexpr std::array kHealth{core::HealthStatus::starting, core::HealthStatus::healthy,
                             core::HealthStatus::unhealthy};

json exit_json(const core::ExitStatus& e) {
    return {{"signaled", e.signaled}, {"code", e.code}, {"signal", e.signal}, {"oom", e.oom}, {"liveness", e.liveness}};
}

core::ExitStatus exit_of(const json& j) {
    core::ExitStatus e;
    e.signaled = j.at("signaled").get<bool>();
    e.code = j.at("code").get<int>();
    e.signal = j.at("signal").get<int>();
    e.oom = j.at("oom").get<bool>();
    e.liveness = j.at("liveness").get<bool>();
    return e;
}

json machine_json(const core::MachineSnapshot& m) {
    json j{{"state", std::string(core::state_name(m.state))},
           {"pid", m.pid},
           {"started_at", ticks(m.started_at)},
           {"restarts", m.restarts},
           {"failed_starts", m.failed_starts},
           {"start_pending", m.start_pending},
           {"restart_after_stop", m.restart_after_stop},
           {"last_delay_ms", m.last_delay.count()},
           {"backoff_attempt", m.backoff_attempt}};
    j["last_exit"] = m.last_exit ? exit_json(*m.last_exit) : json(nullptr);
    return j;
}

core::MachineSnapshot machine_of(const json& j) {
    core::MachineSnapshot m;
    m.state = parse_enum(j.at("state").get<std::string>(), kStates, core::state_name, "state");
    m.pid = j.at("pid").get<int>();
    m.started_at = at(j.at("started_at").get<std::int64_t>());
    m.restarts = j.at("restarts").get<int>();
    m.failed_starts = j.at("failed_starts").get<int>();
    m.start_pending = j.at("start_pending").get<bool>();
    m.restart_after_stop = j.at("restart_after_stop").get<bool>();
    m.last_delay = core::Duration(j.at("last_delay_ms").get<std::int64_t>());
    m.backoff_attempt = j.at("backoff_attempt").get<int>();
    if (!j.at("last_exit").is_null()) m.last_exit = exit_of(j.at("last_exit"));
    return m;
}

json health_json(const CarriedHealth& h) {
    json hist = json::array();
    for (const auto& r : h.history)
        hist.push_back({{"at_us", std::chrono::duration_cast<std::chrono::microseconds>(r.at.time_since_epoch()).count()},
                        {"ok", r.ok},
                        {"startup", r.startup},
                        {"latency_us", r.latency.count()},
                        {"detail", r.detail}});
    return {{"running", h.running},
            {"status", std::string(core::health_status_name(h.tracker.status))},
            {"started", ticks(h.tracker.started)},
            {"start_period_over", h.tracker.start_period_over},
            {"gate_open", h.tracker.gate_open},
            {"failures", h.tracker.failures},
            {"successes", h.tracker.successes},
            {"passed", h.passed},
            {"failed", h.failed},
            {"history", std::move(hist)},
            {"latency_buckets", h.latency_buckets},
            {"latency_count", h.latency_count},
            {"latency_sum", h.latency_sum}};
}

CarriedHealth health_of(const json& j) {
    CarriedHealth h;
    h.running = j.at("running").get<bool>();
    h.tracker.status = parse_enum(j.at("status").get<std::string>(), kHealth, core::health_status_name, "health");
    h.tracker.started = at(j.at("started").get<std::int64_t>());
    h.tracker.start_period_over = j.at("start_period_over").get<bool>();
    h.tracker.gate_open = j.at("gate_open").get<bool>();
    h.tracker.failures = j.at("failures").get<int>();
    h.tracker.successes = j.at("successes").get<int>();
    h.passed = j.at("passed").get<std::uint64_t>();
    h.failed = j.at("failed").get<std::uint64_t>();
    for (const auto& r : j.at("history")) {
        health::HealthRecord rec;
        rec.at = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::microseconds(r.at("at_us").get<std::int64_t>())));
        rec.ok = r.at("ok").get<bool>();
        rec.startup = r.at("startup").get<bool>();
        rec.latency = std::chrono::microseconds(r.at("latency_us").get<std::int64_t>());
        rec.detail = r.at("detail").get<std::string>();
        h.history.push_back(std::move(rec));
    }
    h.latency_buckets = j.at("latency_buckets").get<std::vector<std::uint64_t>>();
    h.latency_count = j.at("latency_count").get<std::uint64_t>();
    h.latency_sum = j.at("latency_sum").get<double>();
    return h;
}

json process_json(const CarriedProcess& p) {
    json timers = json::array();
    for (const auto& t : p.timers) timers.push_back(t ? json(ticks(*t)) : json(nullptr));
    json pipes = json::array();
    for (const auto& pp : p.pipes) pipes.push_back({{"read_fd", pp.read_fd}, {"write_fd", pp.write_fd}});
    return {{"name", p.name},
            {"intent", std::string(core::intent_name(p.intent))},
            {"set_health", p.set_health ? json(std::string(core::health_status_name(*p.set_health))) : json(nullptr)},
            {"machine", machine_json(p.machine)},
            {"timers", std::move(timers)},
            {"pidfd", p.pidfd},
            {"pipes", std::move(pipes)},
            {"notify_fd", p.notify_fd},
            {"notify_status", p.notify_status},
            {"spawn_error", p.spawn_error},
            {"exit_reason", p.exit_reason},
            {"oom_kills", p.oom_kills},
            {"oom_kills_at_spawn", p.oom_kills_at_spawn},
            {"health", health_json(p.health)}};
}

CarriedProcess process_of(const json& j) {
    CarriedProcess p;
    p.name = j.at("name").get<std::string>();
    p.intent = parse_enum(j.at("intent").get<std::string>(), kIntents, core::intent_name, "intent");
    if (!j.at("set_health").is_null())
        p.set_health = parse_enum(j.at("set_health").get<std::string>(), kHealth, core::health_status_name, "health");
    p.machine = machine_of(j.at("machine"));
    const json& timers = j.at("timers");
    if (timers.size() != core::kTimerCount) throw std::runtime_error("timers: expected " + std::to_string(core::kTimerCount));
    for (std::size_t i = 0; i < core::kTimerCount; ++i)
        if (!timers[i].is_null()) p.timers[i] = at(timers[i].get<std::int64_t>());
    p.pidfd = j.at("pidfd").get<int>();
    const json& pipes = j.at("pipes");
    if (pipes.size() != 2) throw std::runtime_error("pipes: expected 2");
    for (std::size_t i = 0; i < 2; ++i) {
        p.pipes[i].read_fd = pipes[i].at("read_fd").get<int>();
        p.pipes[i].write_fd = pipes[i].at("write_fd").get<int>();
    }
    p.notify_fd = j.at("notify_fd").get<int>();
    p.notify_status = j.at("notify_status").get<std::string>();
    p.spawn_error = j.at("spawn_error").get<std::string>();
    p.exit_reason = j.at("exit_reason").get<std::string>();
    p.oom_kills = j.at("oom_kills").get<std::uint64_t>();
    p.oom_kills_at_spawn = j.at("oom_kills_at_spawn").get<std::uint64_t>();
    p.health = health_of(j.at("health"));
    return p;
}

}  // namespace

std::vector<int> State::fds() const {
    std::vector<int> out;
    auto add = [&](int fd) {
        if (fd >= 0) out.push_back(fd);
    };
    add(control_fd);
    add(tcp_fd);
    for (const auto& s : sockets) add(s.fd);
    for (const auto& p : processes) {
        add(p.pidfd);
        add(p.notify_fd);
        for (const auto& pp : p.pipes) {
            add(pp.read_fd);
            add(pp.write_fd);
        }
    }
    return out;
}

std::string to_json(const State& s) {
    json socks = json::array();
    for (const auto& c : s.sockets)
        socks.push_back({{"url", c.url}, {"fd", c.fd}, {"unix_path", c.unix_path}, {"owner", c.owner},
                         {"mode", c.mode}, {"backlog", c.backlog}});
    json procs = json::array();
    for (const auto& p : s.processes) procs.push_back(process_json(p));
    return json{{"version", s.version},
                {"from_version", s.from_version},
                {"reexecs", s.reexecs},
                {"control_fd", s.control_fd},
                {"tcp_fd", s.tcp_fd},
                {"sockets", std::move(socks)},
                {"processes", std::move(procs)}}
        .dump();
}

std::optional<State> from_json(const std::string& text, std::string& error) {
    try {
        const json j = json::parse(text);
        State s;
        s.version = j.at("version").get<int>();
        if (s.version != kStateVersion) {
            error = "state version " + std::to_string(s.version) + ", this vigild reads version " +
                    std::to_string(kStateVersion);
            return std::nullopt;
        }
        s.from_version = j.at("from_version").get<std::string>();
        s.reexecs = j.at("reexecs").get<std::uint64_t>();
        s.control_fd = j.at("control_fd").get<int>();
        s.tcp_fd = j.at("tcp_fd").get<int>();
        for (const auto& c : j.at("sockets")) {
            CarriedSocket cs;
            cs.url = c.at("url").get<std::string>();
            cs.fd = c.at("fd").get<int>();
            cs.unix_path = c.at("unix_path").get<std::string>();
            cs.owner = c.at("owner").get<std::string>();
            cs.mode = c.at("mode").get<unsigned>();
            cs.backlog = c.at("backlog").get<int>();
            s.sockets.push_back(std::move(cs));
        }
        for (const auto& p : j.at("processes")) s.processes.push_back(process_of(p));
        return s;
    } catch (const std::exception& e) {
        error = std::string("unreadable state: ") + e.what();
        return std::nullopt;
    }
}

}  // namespace vigil::supervisor::reexec
