// The I/O side of replicated data stores (docs/replication.md): one
// core::ReplicationPair per `replica_of` pair, fed with what vigild sees of
// its members (transitions, health, the primary's pg_stat_replication or
// Redis' INFO replication every half second, a data directory gone) and
// carrying out what it decides: stopping and fencing through the Supervisor,
// promotion and the synchronous standby by SQL or RESP on a worker thread
// (store.hpp, by kind), the role of each member in
// the environment of its next start (the kind script reads it: base backup,
// pg_rewind, no initdb once paired), and pool membership for `role =` pools.
// Which member is primary, which are fenced and whether a pair has been
// initialised is kept in <state_dir>/replication.
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

#include "supervisor/core/health_tracker.hpp"
#include "supervisor/core/process_machine.hpp"
#include "supervisor/core/replication.hpp"
#include "supervisor/replication/store.hpp"
#include "supervisor/replication/worker.hpp"

namespace vigil::supervisor {

class Supervisor;
class ProcessRunner;

class ReplicationManager {
public:
    ReplicationManager(boost::asio::io_context& io, Supervisor& sup);
    ~ReplicationManager();

    // Before Supervisor::start(): every member's role in its environment.
    void start();

    // What status, health, the API and /metrics show of a member; nullopt
    // for a program in no pair.
    struct View {
        std::string role;  // "primary", "replica", "fenced"
        std::string primary;
        bool synchronous = false;  // the pair (asynchronous-only: a replica in sync at the last poll)
        bool asynchronous_only = false;  // Redis
        std::optional<core::ReplicaLag> lag;  // replicas, as the primary last said
        std::string operation;  // a failover or switchover under way
        std::string pair;  // the configured primary's name: what names the pair (backups)
        // "replica of pg, sync, lag 0 B 0.000 s", "primary, synchronous"
        std::string text() const;
    };
    std::optional<View> view(const std::string& name) const;

    // Operators (vigilctl failover/switchover). "" when begun, else why not.
    std::string failover(const std::string& target, bool force);
    std::string switchover(const std::string& target);
    std::string unfence(const std::string& name);
    // Whether a switchover or failover involving `name` is under way.
    bool busy(const std::string& name) const;

private:
    struct Pair {
        core::ReplicationPair core;
        std::string key;  // the configured primary's name
        std::shared_ptr<const replication::Store> store;
        bool paired = false;
        bool polling = false;
        std::map<std::uint64_t, std::string> fences;  // action id -> member being stopped
        std::unique_ptr<boost::asio::steady_timer> deadline;
    };

    Pair* pair_of(const std::string& name);
    const Pair* pair_of(const std::string& name) const;
    void on_transition(const ProcessRunner& r, core::State from, core::State to);
    void on_health(const ProcessRunner& r, core::HealthStatus to);
    void run(Pair& p, core::ReplActions actions);
    void run_one(Pair& p, const core::ReplAction& a);
    void done(const std::string& key, std::uint64_t id, const std::string& error);
    // Runs `work` on the actions' thread; its result answers action `id`.
    void job(Pair& p, std::uint64_t id, std::function<std::string()> work);
    void apply_env(Pair& p);
    void push_roles();
    void arm_deadline(Pair& p);
    void poll();
    void poll_result(const std::string& key, const std::string& error,
                     const std::map<std::string, core::ReplicaLag>& lags);
    void save();
    void load();
    replication::Target target_of(const std::string& member) const;

    boost::asio::io_context& io_;
    Supervisor& sup_;
    std::vector<std::unique_ptr<Pair>> pairs_;
    std::string state_path_;
    std::string saved_;  // what the file holds
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::uint64_t observer_ = 0, health_observer_ = 0;
    boost::asio::steady_timer poll_timer_;
    // Actions and the lag polls on separate threads: a slow poll must not
    // hold up a promotion.
    std::unique_ptr<replication::Worker> actions_;
    std::unique_ptr<replication::Worker> polls_;
};

}  // namespace vigil::supervisor
