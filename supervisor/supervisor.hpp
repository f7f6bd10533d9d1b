// Owns every ProcessRunner and carries out what the pure core::ProcessSet
// decides for the whole set (start order, holds, shutdown order,
// replacements after an update, liveness stops, pool pushes, waits): it
// feeds the set every machine decision, health change, operator request and
// config edit, with the time, and executes the commands that come back, in
// order, through one queue. It also keeps operator intent on disk and reaps
// orphans that the kernel hands to vigild as subreaper. Lives on the one
// event loop; nothing here is locked.
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
#include <boost/asio/steady_timer.hpp>
#include <deque>

#include "config/model.hpp"
#include "supervisor/core/config_diff.hpp"
#include "supervisor/core/process_set.hpp"
#include "supervisor/held_sockets.hpp"
#include "supervisor/intent_store.hpp"
#include "supervisor/pid_registry.hpp"
#include "supervisor/process_runner.hpp"
#include "supervisor/reexec_state.hpp"

namespace vigil::supervisor {

class ReplicationManager;

class Supervisor : public ProcessRunner::Listener {
public:
    using Observer = std::function<void(const ProcessRunner&, const core::Decision&)>;
    using HealthObserver = std::function<void(const ProcessRunner&, core::HealthStatus from, core::HealthStatus to,
                                              const std::string& detail)>;
    // Carries out the set's proxy commands (set_member, define_pools,
    // check_pools, proxy_gone): ProxyLink.
    using ProxyExecutor = std::function<void(const core::Command&)>;
    using WaitDone = std::function<void(const core::Command&)>;

    // `carried`: the state a re-executed vigild took over (reexec.hpp); its
    // held sockets and notify sockets are adopted here, and resume() takes
    // the processes over.
    Supervisor(boost::asio::io_context& io, config::Config config, std::uint64_t seed,
               const reexec::State* carried = nullptr);
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
    bool shutting_down() const { return set_.shutting_down(); }
    // True once every program wanted at start-up has reached RUNNING or given
    // up (FATAL/EXITED): the moment vigild tells systemd READY=1.
    bool start_settled() const;

    // vigild's re-exec (supervisor_reexec.cpp). Why the whole state cannot
    // be carried over now ("" when it can); the state to carry (descriptors
    // included); and, in the new image instead of start(), taking every
    // process over as it was. Returns how many processes were carried.
    std::string carry_refusal() const;
    reexec::State carry();
    std::size_t resume(const reexec::State& carried);

    // SIGCHLD arrived: hand each exited child in the child table to its
    // owner (runner or exec check), reap the rest (true orphans).
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
    std::string waiting_for(const std::string& name) const { return set_.waiting_for(name); }

    // Waits until each process reaches its goal, cannot any more, or
    // `timeout` passes; `done` gets the set's wait_done (maybe at once).
    void wait(const std::vector<std::pair<std::string, core::WaitGoal>>& goals, std::chrono::milliseconds timeout,
              WaitDone done);

    // The proxy side (ProxyLink): who executes the proxy commands, and what
    // the proxy answered.
    void set_proxy_executor(ProxyExecutor e) { proxy_executor_ = std::move(e); }
    // The proxy's answer to a set_member command (HTTP status, 0 when not
    // reached and `detail` says why).
    void member_ack(const core::Command& push, int status, const std::string& detail);
    void pools_report(const std::optional<std::map<std::string, std::string>>& actual);
    void pools_not_defined();
    // The proxy executor reached handover_barrier `id`: the new proxy has every pool.
    void pools_handed_over(std::uint64_t id);
    // The answer to a count_active command.
    void active_count(std::uint64_t roll, std::uint64_t ticket, std::optional<long> active);

    // Restarts `names` one at a time (the set decides every step: see
    // core/process_set_rolling.cpp); `report` gets each roll_step command
    // and, last, the roll_done. The caller checked set().rolling() for each.
    using RollReport = std::function<void(const core::Command&)>;
    void roll(const std::vector<std::string>& names, const core::RollOptions& options, RollReport report);
    // The whole-set view, for queries (pools, intents, health as last told).
    const core::ProcessSet& set() const { return set_; }
    // The replication manager's view of each data store, for role = pools.
    void set_replica_roles(std::map<std::string, core::ProcessSet::ReplicaRole> roles);
    // For status, the API and /metrics: each data store's role and lag.
    void set_replication(const ReplicationManager* m) { replication_ = m; }
    const ReplicationManager* replication() const { return replication_; }

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
    // Decisions reported beside state and health changes, one line each on
    // the events stream: `topic` "replication" (a failover, an unfence …).
    using NoteObserver = std::function<void(const std::string& name, const std::string& topic,
                                            const std::string& text, bool warning)>;
    std::uint64_t subscribe_notes(NoteObserver o);
    void note(const std::string& name, const std::string& topic, const std::string& text, bool warning);
    void unsubscribe(std::uint64_t id);

    ProcessRunner* find(const std::string& name);
    const ProcessRunner* find(const std::string& name) const;
    // Every program's log files closed and opened again, and SIGUSR1 to each
    // running vigil-proxy (its --access-log): after logrotate has moved them.
    // Returns how many files vigild reopened.
    int reopen_logs();
    const std::vector<std::string>& order() const { return order_; }
    const config::Config& config() const { return config_; }

private:
    void on_transition(ProcessRunner& runner, const core::Decision& d) override;
    void on_health(ProcessRunner& runner, core::HealthStatus from, core::HealthStatus to,
                   const std::string& detail) override;
    void execute(core::Commands cs);
    void carry_out(const core::Command& c);
    void arm_tick();
    void add_runner(const config::Program& p, const reexec::CarriedProcess* carried = nullptr);
    std::shared_ptr<ProcessRunner> make_runner(const config::Program& p, std::string instance = {},
                                               const reexec::CarriedProcess* carried = nullptr);
    // The set's handover commands (handover_start … drop_retired).
    void carry_out_handover(const core::Command& c);
    // Closes a runner now and lets it go once the handlers on the stack are done.
    void drop(std::shared_ptr<ProcessRunner> r);
    // The program's runner, or the incoming one of a handover: its settings are the latest.
    const ProcessRunner* latest(const std::string& name) const;

    boost::asio::io_context& io_;
    config::Config config_;
    core::Rng rng_;
    IntentStore intent_;
    core::ProcessSet set_;
    PidRegistry pids_;
    HeldSockets sockets_;  // before runners_: their processes hold dups of these
    ChildTable& children_ = ChildTable::process();  // pid -> runner or exec check, for reap_children()
    std::map<std::string, pid_t> recorded_pid_;
    std::vector<std::string> order_;  // start order
    std::map<std::string, std::shared_ptr<ProcessRunner>> runners_;
    // A proxy handover (core/process_set_handover.cpp): the new process until
    // it is ready, and old ones being drained, by the set's id. Each has its
    // own machine, notify socket and cgroup (runner instance "h<N>").
    std::shared_ptr<ProcessRunner> incoming_;
    std::map<std::uint64_t, std::shared_ptr<ProcessRunner>> retiring_;
    unsigned instances_ = 0;
    std::map<std::uint64_t, Observer> observers_;
    std::map<std::uint64_t, HealthObserver> health_observers_;
    std::map<std::uint64_t, UpdateObserver> update_observers_;
    std::map<std::uint64_t, NoteObserver> note_observers_;
    std::uint64_t next_observer_ = 1;
    std::function<void()> on_down_;
    // Commands are carried out one after another: those that cause decisions
    // (and so more commands) queue behind, never run inside each other.
    std::deque<core::Command> queue_;
    bool executing_ = false;
    boost::asio::steady_timer tick_;  // the set's next deadline (reconcile, wait timeouts)
    std::optional<core::TimePoint> tick_at_;
    ProxyExecutor proxy_executor_;
    const ReplicationManager* replication_ = nullptr;
    std::map<std::uint64_t, WaitDone> waits_;
    std::uint64_t next_wait_ = 1;
    std::map<std::uint64_t, RollReport> rolls_;
    std::uint64_t next_roll_ = 1;
};

}  // namespace vigil::supervisor
