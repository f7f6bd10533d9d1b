// Owns every ProcessRunner and the order between them: starts programs once
// their dependencies are met, stops them in reverse dependency order on
// shutdown, applies config edits process by process, keeps operator intent,
// and reaps orphans that the kernel hands to vigild as subreaper. Lives on
// the one event loop; nothing here is locked.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/model.hpp"
#include "supervisor/core/config_diff.hpp"
#include "supervisor/core/dependency_graph.hpp"
#include "supervisor/held_sockets.hpp"
#include "supervisor/intent_store.hpp"
#include "supervisor/pid_registry.hpp"
#include "supervisor/process_runner.hpp"

namespace vigil::supervisor {

class Supervisor : public ProcessRunner::Listener {
public:
    using Observer = std::function<void(const ProcessRunner&, const core::Decision&)>;
    using HealthObserver = std::function<void(const ProcessRunner&, core::HealthStatus from, core::HealthStatus to,
                                              const std::string& detail)>;

    Supervisor(boost::asio::io_context& io, config::Config config, std::uint64_t seed);
    ~Supervisor() override;

    // Stops what a previous vigild, killed before it could stop its
    // programs, left running (see pid_registry.hpp). Returns how many.
    std::size_t stop_leftovers();
    // Starts every autostart program (unless stopped by hand before) as its
    // dependencies allow.
    void start();
    // Stops everything, dependents before their dependencies; `done` runs
    // once every process is down.
    void shutdown(std::function<void()> done);
    bool shutting_down() const { return shutting_down_; }
    // True once every program wanted at start-up has reached RUNNING or given
    // up (FATAL/EXITED): the moment vigild tells systemd READY=1.
    bool start_settled() const;

    // SIGCHLD arrived: reap orphans, leave managed children to their pidfds.
    void reap_children();

    // Operator requests (vigilctl). Names: a process, a program section, a
    // group, "GROUP:*", "GROUP:NAME" or "all". Empty result + error on an
    // unknown name.
    std::vector<ProcessRunner*> resolve(const std::string& spec, std::string& error);
    void request_start(ProcessRunner& r);
    void request_stop(ProcessRunner& r);
    void request_restart(ProcessRunner& r);
    bool stopped_by_hand(const std::string& name) const { return intent_.stopped_by_hand(name); }
    // Why a program wanted up is not started yet ("waiting for db"), or "".
    std::string waiting_for(const std::string& name) const;

    // Config edits: the plan, and carrying it out. update() stops removed
    // processes, replaces changed ones (stop, then start with the new
    // settings), starts added ones, and leaves unchanged ones alone.
    core::ConfigDiff plan(const config::Config& next, const std::vector<std::string>& only = {}) const;
    core::ConfigDiff update(config::Config next, const std::vector<std::string>& only = {});

    std::uint64_t subscribe(Observer o);
    std::uint64_t subscribe_health(HealthObserver o);
    // After each update(), with what it changed (config() is already the new one).
    using UpdateObserver = std::function<void(const core::ConfigDiff&)>;
    std::uint64_t subscribe_update(UpdateObserver o);
    void unsubscribe(std::uint64_t id);

    ProcessRunner* find(const std::string& name);
    const ProcessRunner* find(const std::string& name) const;
    const std::vector<std::string>& order() const { return order_; }
    const config::Config& config() const { return config_; }

private:
    void on_transition(ProcessRunner& runner, const core::Decision& d) override;
    void on_health(ProcessRunner& runner, core::HealthStatus from, core::HealthStatus to,
                   const std::string& detail) override;
    void hold_if_dependency_down(ProcessRunner& runner);
    void evaluate();
    void start_pending();
    void stop_for_shutdown();
    void finish_replacements();
    bool dependency_met(const config::Dependency& dep) const;
    void add_runner(const config::Program& p);

    boost::asio::io_context& io_;
    config::Config config_;
    core::Rng rng_;
    core::DependencyGraph graph_;
    IntentStore intent_;
    PidRegistry pids_;
    HeldSockets sockets_;  // before runners_: their processes hold dups of these
    std::map<std::string, pid_t> recorded_pid_;
    std::vector<std::string> order_;  // start order
    std::map<std::string, std::shared_ptr<ProcessRunner>> runners_;
    std::set<std::string> pending_start_;  // wanted up, waiting for dependencies
    std::set<std::string> startup_;        // wanted at start-up, not settled yet
    std::map<std::string, std::string> waiting_on_;  // last "waiting for" message
    // Changed or removed by an update and stopping: once down, replaced by
    // `next` (and started again if `start`), or dropped when `next` is empty.
    struct Replacement {
        std::optional<config::Program> next;
        bool start = false;
    };
    std::map<std::string, Replacement> replacing_;
    std::map<std::uint64_t, Observer> observers_;
    std::map<std::uint64_t, HealthObserver> health_observers_;
    std::map<std::uint64_t, UpdateObserver> update_observers_;
    std::uint64_t next_observer_ = 1;
    bool shutting_down_ = false;
    bool evaluating_ = false;
    bool evaluate_again_ = false;
    std::function<void()> on_down_;
};

}  // namespace vigil::supervisor
