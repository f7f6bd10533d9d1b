#include "supervisor/metrics.hpp"
#include "supervisor/replication/manager.hpp"

#include <sstream>

namespace vigil::supervisor {
namespace {

constexpr core::State kStates[] = {core::State::stopped, core::State::starting, core::State::running,
                                   core::State::backoff, core::State::stopping, core::State::exited,
                                   core::State::fatal};

void family(std::ostringstream& out, const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

}  // namespace

std::string escape_label(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string render_metrics(const Supervisor& sup) {
    std::ostringstream out;
    std::vector<const ProcessRunner*> runners;
    for (const auto& name : sup.order())
        if (const ProcessRunner* r = sup.find(name)) runners.push_back(r);
    auto label = [](const ProcessRunner& r) { return "name=\"" + escape_label(r.name()) + "\""; };

    family(out, "vigil_program_state", "gauge", "1 for the state the process is in, 0 for the others.");
    for (const auto* r : runners)
        for (core::State s : kStates)
            out << "vigil_program_state{" << label(*r) << ",state=\"" << core::state_name(s) << "\"} "
                << (r->state() == s ? 1 : 0) << '\n';

    family(out, "vigil_program_up", "gauge", "1 when the process is RUNNING.");
    for (const auto* r : runners) out << "vigil_program_up{" << label(*r) << "} " << (r->state() == core::State::running) << '\n';

    family(out, "vigil_program_restarts_total", "counter", "Automatic restarts since vigild started.");
    for (const auto* r : runners)
        out << "vigil_program_restarts_total{" << label(*r) << "} " << r->machine().restarts() << '\n';

    family(out, "vigil_program_last_exit_code", "gauge",
           "Exit code of the last run (128+signal for a signal death), -1 before any exit.");
    for (const auto* r : runners) {
        const auto e = r->machine().last_exit();
        out << "vigil_program_last_exit_code{" << label(*r) << "} "
            << (!e ? -1 : e->signaled ? 128 + e->signal : e->code) << '\n';
    }

    family(out, "vigil_program_oom_kills_total", "counter", "Runs ended by the OOM killer (memory_limit).");
    for (const auto* r : runners) out << "vigil_program_oom_kills_total{" << label(*r) << "} " << r->oom_kills() << '\n';

    family(out, "vigil_program_limit_applied", "gauge",
           "Per configured limit: 1 applied through cgroups, 0 not (no cgroup controller with limits = best-effort, "
           "or refused with limits = required).");
    for (const auto* r : runners)
        for (const auto& key : limit_keys(r->program().limits))
            out << "vigil_program_limit_applied{" << label(*r) << ",limit=\"" << key << "\"} " << r->limit_applied(key)
                << '\n';

    family(out, "vigil_program_uptime_seconds", "gauge", "Seconds since the running process was spawned, 0 when down.");
    for (const auto* r : runners) {
        double up = 0;
        if (r->pid() > 0) up = std::chrono::duration<double>(core::Clock::now() - r->machine().started_at()).count();
        out << "vigil_program_uptime_seconds{" << label(*r) << "} " << up << '\n';
    }

    family(out, "vigil_program_backoff_delay_seconds", "gauge", "The restart delay chosen last.");
    for (const auto* r : runners)
        out << "vigil_program_backoff_delay_seconds{" << label(*r) << "} "
            << std::chrono::duration<double>(r->machine().last_delay()).count() << '\n';

    family(out, "vigil_program_healthy", "gauge",
           "1 healthy, 0 unhealthy or starting; absent without a healthcheck or while down.");
    for (const auto* r : runners)
        if (const auto h = r->health()) out << "vigil_program_healthy{" << label(*r) << "} " << (*h == core::HealthStatus::healthy) << '\n';

    family(out, "vigil_health_checks_total", "counter", "Health check results by outcome.");
    for (const auto* r : runners)
        if (const auto* m = r->monitor()) {
            out << "vigil_health_checks_total{" << label(*r) << ",result=\"ok\"} " << m->checks_passed() << '\n';
            out << "vigil_health_checks_total{" << label(*r) << ",result=\"fail\"} " << m->checks_failed() << '\n';
        }

    family(out, "vigil_health_probe_duration_seconds", "histogram", "How long health probes took.");
    for (const auto* r : runners) {
        if (!r->monitor()) continue;
        const auto& h = r->probe_latency();
        for (std::size_t i = 0; i < ProcessRunner::kLatencyBuckets.size(); ++i)
            out << "vigil_health_probe_duration_seconds_bucket{" << label(*r) << ",le=\""
                << ProcessRunner::kLatencyBuckets[i] << "\"} " << h.buckets[i] << '\n';
        out << "vigil_health_probe_duration_seconds_bucket{" << label(*r) << ",le=\"+Inf\"} " << h.count << '\n';
        out << "vigil_health_probe_duration_seconds_sum{" << label(*r) << "} " << h.sum << '\n';
        out << "vigil_health_probe_duration_seconds_count{" << label(*r) << "} " << h.count << '\n';
    }

    if (const ReplicationManager* repl = sup.replication()) {
        family(out, "vigil_replication_primary", "gauge",
               "1 for the primary of a replicated pair, 0 for a replica (replica_of).");
        for (const auto* r : runners)
            if (auto v = repl->view(r->name()))
                out << "vigil_replication_primary{" << label(*r) << "} " << (v->role == "primary") << '\n';
        family(out, "vigil_replication_synchronous", "gauge",
               "1 while the pair's primary waits for a replica on every commit (Redis, always "
               "asynchronous: while a replica was in sync at the last poll).");
        for (const auto* r : runners)
            if (auto v = repl->view(r->name()); v && v->role == "primary")
                out << "vigil_replication_synchronous{" << label(*r) << "} " << v->synchronous << '\n';
        // A replica its primary does not list (down, not connected, not
        // polled yet) has no lag to report: its lag series are absent then,
        // not 0, which would read as caught up; this series says why.
        family(out, "vigil_replication_streaming", "gauge",
               "1 while a replica streams from its primary, as the primary last said; 0: not streaming, and its lag "
               "series are absent.");
        for (const auto* r : runners)
            if (auto v = repl->view(r->name()); v && v->role == "replica")
                out << "vigil_replication_streaming{" << label(*r) << "} " << (v->lag && v->lag->streaming) << '\n';
        family(out, "vigil_replication_lag_bytes", "gauge",
               "WAL (Redis: replication stream) the replica has yet to replay, as its primary says; while it streams.");
        for (const auto* r : runners)
            if (auto v = repl->view(r->name()); v && v->lag && v->lag->streaming)
                out << "vigil_replication_lag_bytes{" << label(*r) << "} " << v->lag->bytes << '\n';
        family(out, "vigil_replication_lag_seconds", "gauge",
               "The replica's replay lag, as its primary says (Redis: since its last acknowledgement, whole seconds); "
               "while it streams.");
        for (const auto* r : runners)
            if (auto v = repl->view(r->name()); v && v->lag && v->lag->streaming)
                out << "vigil_replication_lag_seconds{" << label(*r) << "} " << v->lag->seconds.count() / 1000.0
                    << '\n';
    }

    family(out, "vigil_programs", "gauge", "Processes vigild supervises.");
    out << "vigil_programs " << runners.size() << '\n';
    return out.str();
}

}  // namespace vigil::supervisor
