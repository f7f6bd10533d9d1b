// The decisions that span the whole set of supervised processes, as one pure
// class beside ProcessMachine: events in (each machine's decision, health
// changes, operator requests, an applied ConfigDiff, the proxy's answers, the
// clock), a list of commands out (start, stop, restart, a liveness stop,
// replace or drop a runner, set a pool member up/down/draining, ask the proxy
// for its pools, report a wait done). No syscalls, no sockets, no timers: the
// Supervisor, ProxyLink and Waiter carry the commands out, and time enters as
// a `now` argument, so the rules in docs/supervision.md can be tested as scripts on a
// manual clock (tests/unit/core/process_set_test.cpp).
//
// The rules it owns:
//   - a process wanted up starts once each `depends_on` is met (:started =
//     RUNNING, :healthy = RUNNING and its healthcheck passing), in config order;
//   - one that fails (BACKOFF) while a dependency is down is held: stopped,
//     and started again once the dependency is back;
//   - shutdown stops dependents before their dependencies, one layer at a
//     time, and reports `all_down` once every process is down;
//   - an `update` stops changed and removed processes, replaces or drops
//     their runners once they are down, and starts what should run again;
//   - a liveness failure (on_unhealthy = restart) stops a process through
//     the backoff; readiness (isolate) only takes it out of its pools;
//   - a pool member is up while RUNNING and healthy (or without
//     healthcheck), down otherwise, or what a rolling restart holds it at;
//     a push counts once the proxy acknowledged it, a failed one is sent
//     again by a reconcile 0.5 s later, and the proxy's pools are compared
//     with this view every 30 s while it runs;
//   - a wait ends when each process reached its goal, can no longer reach
//     it, or its deadline passed;
//   - a rolling restart takes its instances one at a time: held "draining"
//     in its pools, its active requests counted down to 0 (or the drain
//     timeout), restarted, waited on until RUNNING with a new pid and
//     healthy (or the timeout: the roll stops there, the rest untouched,
//     the instance released to what its health says), then back "up"
//     (process_set_rolling.cpp).
//   - a planned restart of a running proxy (restart, an update that changes
//     it) is a handover: a second proxy (the incoming) starts on the same
//     held sockets while the old one serves; once it is RUNNING (READY=1) it
//     becomes the program's process, gets every pool, and only then is the
//     old one (now retiring) told to stop accepting and drain. An incoming
//     that fails or is not ready within kHandoverReady is stopped and the
//     old one keeps serving (process_set_handover.cpp);
//   - shutdown stops the proxy (and any retiring one) before the pool
//     members it routes to, so it drains against live servers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "proxy/admin_protocol.hpp"
#include "supervisor/control_protocol.hpp"
#include "supervisor/core/clock.hpp"
#include "supervisor/core/config_diff.hpp"
#include "supervisor/core/dependency_graph.hpp"
#include "supervisor/core/health_tracker.hpp"
#include "supervisor/core/process_machine.hpp"

namespace vigil::core {

// What the set wants of one process: one value, not a pair of flags.
enum class Intent : std::uint8_t {
    down,             // not wanted up: never asked for (no autostart), or stopped for shutdown
    stopped_by_hand,  // an operator stopped it; stays down across vigild restarts
    pending,          // wanted up; its start waits for its dependencies
    held,             // failed while a dependency was down: stopped, started again once it is back
    up,               // start sent: its machine keeps it up from here
    replacing,        // an update is stopping it; once down it is replaced (or dropped)
};
std::string_view intent_name(Intent i) noexcept;

// "a, b, c"
std::string join_names(const std::vector<std::string>& names) noexcept;

// Down and staying down: no process, and none coming unless someone asks
// (is_down() counts BACKOFF too, which comes back).
bool stays_down(State s) noexcept;

enum class WaitGoal {
    up,         // start: RUNNING; a failed start (BACKOFF from STARTING, FATAL) ends the wait
    down,       // stop: STOPPED, EXITED or FATAL
    restarted,  // restart: seen going down, then as `up`
    running,    // wait: RUNNING; FATAL, EXITED or stopped by hand end the wait (nothing brings it up)
    healthy,    // wait: RUNNING and its healthcheck passed (RUNNING alone without one)
    stopped,    // wait: STOPPED, EXITED or FATAL
};
const char* wait_goal_name(WaitGoal g) noexcept;  // "RUNNING", "healthy", "stopped"

struct WaitResult {
    std::string name;
    bool ok = false;
    std::string state;   // "RUNNING", or "GONE"
    std::string health;  // "" without healthcheck or process
    std::string message;
};

// A rolling restart's progress: one line each on the stream of
// POST /v1/programs/{spec}/rolling-restart.
using RollStep = control::RollStep;

struct RollOptions {
    Duration timeout{60000};              // restart -> RUNNING and healthy, per instance
    std::optional<Duration> drain_timeout;  // default: the program's stopwaitsecs
};

struct Command {
    enum class Type {
        start,         // send Event::start to `name`'s machine
        stop,          // Event::stop
        restart,       // Event::restart
        unhealthy,     // Event::unhealthy: its liveness check failed
        replace,       // drop `name`'s runner, make a new one from the current config (STOPPED)
        remove,        // drop `name`'s runner for good
        all_down,      // shutdown: every process is down
        define_pools,  // the proxy (re)started: send it every pool's definition (set_member follow)
        set_member,    // tell the proxy `name` is `mode` in `pool`; answer with member_ack()
        check_pools,   // ask the proxy for its pools; answer with pools_report()
        proxy_gone,    // the proxy process ended: drop whatever is queued for it
        wait_done,     // wait `id` ended: `results` in the order asked, `ok`, `timed_out`
        count_active,  // ask the proxy for `name`'s requests in flight in its pools; answer with active_count()
        roll_step,     // rolling restart `id` reached `step` for `name` (`reason`: the message)
        roll_done,     // rolling restart `id` ended: `ok`, `names` restarted, `untouched`, `reason`
        log,           // nothing to do but tell the log `reason`
        // Proxy handover (planned restart without a refused connection):
        handover_start,    // start an incoming process of `name` beside the running one, from the current config
        handover_swap,     // the incoming is ready: it becomes `name`'s process; the old one is retiring `id`, still serving
        handover_barrier,  // to the proxy executor: once every request queued before it is answered, pools_handed_over(id)
        retire,            // retiring `id`: its stop signal (stop accepting, drain, exit), SIGKILL after stopwaitsecs
        handover_abort,    // the incoming did not come up: stop it as retiring `id`; id 0: it has no process, drop it
        drop_retired,      // retiring `id` is down: drop its runner
    };
    Type type;
    std::string name;
    std::string reason;  // one line for the log (why), may be empty
    std::string pool;
    proxy::ServerMode mode = proxy::ServerMode::down;
    std::uint64_t ticket = 0;  // set_member, count_active: the roll's request it answers, 0 for none
    bool proxy_starting = false;  // set_member, define_pools: retry while its admin socket is not bound yet
    std::uint64_t id = 0;      // wait_done, count_active, roll_step, roll_done: the wait or roll
    bool ok = false, timed_out = false;
    std::vector<WaitResult> results;
    RollStep step = RollStep::start;
    std::vector<std::string> names, untouched;  // roll_step start: the instances; roll_done: restarted, untouched
    Duration elapsed{0};  // roll_step: since this instance's turn began; roll_done: since the roll began
};
using Commands = std::vector<Command>;

// One decision of a process's machine, as the set needs to know it.
struct Change {
    State from = State::stopped, to = State::stopped;
    int pid = 0;
    std::string_view reason;       // the decision's reason
    std::string_view spawn_error;  // why the last spawn failed, or ""
    std::string_view exit_reason;  // the telling line of the last run's output, or ""
    std::string_view last_exit;    // how the last run ended ("exit status 3"), or ""
    bool handed_over = false;      // a handover's incoming process took over (a restart, seen as done)
};

class ProcessSet {
public:
    // How often the proxy's pools are compared with this view, and how soon
    // after a push that was not acknowledged.
    static constexpr Duration kReconcileEvery{30000};
    static constexpr Duration kReconcileAfterFailure{500};
    // How often a draining instance's requests in flight are counted.
    static constexpr Duration kDrainPoll{20};

    // `stopped_by_hand`: the names an operator stopped before (intent store).
    explicit ProcessSet(const config::Config& config, const std::set<std::string>& stopped_by_hand = {}) noexcept;

    // --- operator and daemon requests ---------------------------------------
    Commands startup(TimePoint now) noexcept;  // every autostart process not stopped by hand
    Commands shutdown(TimePoint now) noexcept;
    Commands start(const std::string& name, TimePoint now) noexcept;
    Commands stop(const std::string& name, TimePoint now) noexcept;
    Commands restart(const std::string& name, TimePoint now) noexcept;
    // `config` is what runs from now on (the edit merged where it applies),
    // `d` what changed. New runners for `d.added` exist already (STOPPED).
    Commands update(const config::Config& config, const ConfigDiff& d, TimePoint now) noexcept;

    // --- re-exec (process_set_restore.cpp) --------------------------------------
    // vigild re-executed itself (supervisor/reexec.hpp) and its processes
    // ran on: each one's intent, state and health as the old image knew
    // them, taken without a command for any of them. What still waits for
    // a dependency keeps waiting; a running proxy gets every pool again.
    struct Carried {
        Intent intent = Intent::down;
        State state = State::stopped;
        int pid = 0;
        std::optional<HealthStatus> health;
    };
    Commands restore(const std::map<std::string, Carried>& carried, TimePoint now) noexcept;
    // Why the set cannot be carried across an exec now ("" when it can): a
    // replacement (an update) or a rolling restart's hold is in progress, a
    // wait is pending, or it is shutting down.
    std::string carry_refusal() const noexcept;

    // --- what the machines and monitors did -----------------------------------
    Commands observed(const std::string& name, const Change& c, TimePoint now) noexcept;
    // nullopt: no healthcheck, or no process for it to check.
    Commands health(const std::string& name, std::optional<HealthStatus> h, TimePoint now) noexcept;

    // --- the proxy ------------------------------------------------------------
    // The proxy's answer to a set_member command `push`: its HTTP status (2xx:
    // taken; 0: not reached, `detail` says why).
    Commands member_ack(const Command& push, int status, std::string_view detail, TimePoint now) noexcept;
    // The proxy did not take a define_pools.
    Commands pools_not_defined(TimePoint now) noexcept;
    // The proxy's answer to check_pools: "pool/server" -> state; nullopt when
    // it did not answer.
    Commands pools_report(const std::optional<std::map<std::string, std::string>>& actual, TimePoint now) noexcept;

    // --- proxy handover (process_set_handover.cpp) ------------------------------
    // How long an incoming proxy has to become RUNNING (READY=1, or its
    // startsecs on top) before the handover is given up.
    static constexpr Duration kHandoverReady{10000};
    // Decisions of the incoming process of `name`, and of retiring `id`.
    Commands incoming_observed(const std::string& name, const Change& c, TimePoint now) noexcept;
    Commands retiring_observed(std::uint64_t id, const Change& c, TimePoint now) noexcept;
    // The proxy executor reached handover_barrier `id`: the new proxy has
    // been given every pool.
    Commands pools_handed_over(std::uint64_t id, TimePoint now) noexcept;
    bool handover_under_way() const noexcept { return handover_.has_value(); }
    std::size_t retiring_count() const noexcept { return retiring_.size(); }

    // --- waits ----------------------------------------------------------------
    // Starts wait `id` on `goals` (in the order given) until `deadline`; it
    // may end at once (a wait_done among the commands).
    Commands wait(std::uint64_t id, const std::vector<std::pair<std::string, WaitGoal>>& goals, TimePoint deadline,
                  TimePoint now) noexcept;

    // --- rolling restarts (process_set_rolling.cpp) ----------------------------
    // Restarts `names` one at a time as roll `id` (roll_step commands, then
    // one roll_done). The caller checked rolling() for each name.
    Commands roll(std::uint64_t id, const std::vector<std::string>& names, const RollOptions& options,
                  TimePoint now) noexcept;
    // The answer to count_active: the requests in flight summed over its
    // pools; nullopt when the proxy did not say.
    Commands active_count(std::uint64_t id, std::uint64_t ticket, std::optional<long> active, TimePoint now) noexcept;
    // Whether some roll has `name` among the instances it works through.
    bool rolling(const std::string& name) const noexcept;

    // --- the clock ------------------------------------------------------------
    Commands tick(TimePoint now) noexcept;
    // When tick() next has something to do, if ever.
    std::optional<TimePoint> next_deadline() const noexcept;

    // --- queries --------------------------------------------------------------
    bool known(const std::string& name) const noexcept { return procs_.count(name) > 0; }
    Intent intent(const std::string& name) const noexcept;
    bool stopped_by_hand(const std::string& name) const noexcept { return intent(name) == Intent::stopped_by_hand; }
    State state(const std::string& name) const noexcept;
    std::optional<HealthStatus> health_of(const std::string& name) const noexcept;
    // Why a process wanted up is not started yet ("waiting for db"), or "".
    std::string waiting_for(const std::string& name) const noexcept;
    bool shutting_down() const noexcept { return shutting_down_; }
    // True once every process wanted at start-up is RUNNING or has given up
    // (or waits on a dependency that has): vigild's READY=1.
    bool start_settled() const noexcept;
    // Pools `name` serves in, and the mode it should have there now.
    std::vector<std::string> pools_of(const std::string& name) const noexcept;
    proxy::ServerMode member_mode(const std::string& name) const noexcept;
    // The mode in one pool: a pool with `role = primary` or `role = replica`
    // (docs/replication.md) also asks what the member is in its replicated pair.
    proxy::ServerMode member_mode(const std::string& pool, const std::string& name) const noexcept;
    // What the replication manager says of each data store: takes writes
    // (the current primary, writes not paused), serves reads (a healthy
    // replica). Pushes every member whose mode changed.
    struct ReplicaRole {
        bool writes = false;
        bool reads = false;
        bool operator==(const ReplicaRole&) const = default;
    };
    Commands set_replica_roles(std::map<std::string, ReplicaRole> roles) noexcept;
    bool held_member(const std::string& name) const noexcept { return member_hold_.count(name) > 0; }
    bool proxy_up() const noexcept;
    const std::string& proxy_name() const noexcept { return proxy_name_; }
    const std::vector<std::string>& order() const noexcept { return order_; }

private:
    struct Proc {
        Intent intent = Intent::down;
        State state = State::stopped;
        int pid = 0;
        std::optional<HealthStatus> health;
        bool has_healthcheck = false;
        bool restart_on_unhealthy = false;
        bool autostart = false;
        bool startup = false;  // wanted at start-up and not settled: start_settled() waits for it
        std::string waiting;   // last "waiting for …" told
        std::string spawn_error, exit_reason;
        Intent after_replace = Intent::down;  // while replacing: the intent of the new runner
        bool removed = false;                 // while replacing: dropped, not replaced
        bool stop_queued = false;             // shutdown sent a stop and no decision was seen since
        Duration stopwaitsecs{10000};         // a roll's default drain timeout
        std::string health_target;            // what its healthcheck checks, for a roll's "healthy" line
    };
    struct Roll {
        enum class Phase { holding, draining, restarting, healthy_wait, returning, failing };
        std::uint64_t id = 0;
        std::vector<std::string> names;
        RollOptions options;
        std::size_t next = 0;  // index in `names` of the instance after `current`
        std::string current;
        Phase phase = Phase::holding;
        int old_pid = 0;
        std::uint64_t ticket = 0;  // the hold, release or count being answered
        std::size_t answers_left = 0;
        int worst = 200;           // the worst status of the pushes answered
        std::string detail;        // and why
        TimePoint began, turn_began, deadline;
        std::optional<TimePoint> poll_at;
        std::vector<std::string> restarted;
        std::string summary;  // failing: the roll_done message once released
    };
    struct Wait {
        std::vector<std::string> order;
        std::map<std::string, WaitGoal> pending;
        std::map<std::string, WaitResult> results;
        TimePoint deadline;
        std::string timeout;  // "5s", for the message when it passes
        bool ok = true;
    };

    void adopt(const config::Config& config) noexcept;
    void settle(Commands& out) noexcept;
    void finish_replacements(Commands& out) noexcept;
    void start_pending(Commands& out) noexcept;
    void stop_for_shutdown(Commands& out) noexcept;
    void hold_if_dependency_down(const std::string& name, Commands& out) noexcept;
    bool dependency_met(const config::Dependency& dep) const noexcept;
    Commands begin_start(const std::string& name, TimePoint now) noexcept;

    // Pools (process_set_pools.cpp).
    void refresh_member(const std::string& name, Commands& out) noexcept;
    void push(const std::string& pool, const std::string& name, proxy::ServerMode mode, std::uint64_t ticket,
              Commands& out) noexcept;
    void resync(Commands& out) noexcept;
    void on_proxy_change(const Change& c, TimePoint now, Commands& out) noexcept;
    void schedule_reconcile(TimePoint at) noexcept;
    proxy::ServerMode desired_mode(const std::string& name) const noexcept;

    // Handover (process_set_handover.cpp).
    struct Handover {
        int pid = 0;  // the incoming's, once spawned
        TimePoint deadline;
        bool again = false;  // another restart or change asked for meanwhile: one more handover after this one
    };
    struct Retiring {
        int pid = 0;
        State state = State::running;
        bool told = false;  // retire sent
    };
    bool can_hand_over(const std::string& name) const noexcept;
    void begin_handover(const std::string& why, TimePoint now, Commands& out) noexcept;
    void abort_handover(const std::string& why, int incoming_pid, Commands& out) noexcept;
    void swap_in(const Change& c, TimePoint now, Commands& out) noexcept;
    void retire(std::uint64_t id, std::string why, Commands& out) noexcept;
    void handover_tick(TimePoint now, Commands& out) noexcept;
    bool proxy_draining() const noexcept;  // shutdown: the proxy or a retiring one still runs

    // Waits (process_set_waits.cpp).
    void check_waits(const std::string& name, const Change* c, Commands& out) noexcept;
    bool check_goal(Wait& w, const std::string& name, WaitGoal goal, const Change* c) noexcept;
    bool record(Wait& w, const std::string& name, bool ok, std::string message) noexcept;
    void expire(std::uint64_t id, Wait& w, Commands& out) noexcept;
    void finish_wait(std::uint64_t id, Wait& w, bool timed_out, Commands& out) noexcept;
    void fail_restart_waits(const std::string& name, const std::string& message, Commands& out) noexcept;

    // Rolling restarts (process_set_rolling.cpp).
    void roll_next(std::uint64_t id, TimePoint now, Commands& out) noexcept;
    void roll_restart(std::uint64_t id, TimePoint now, Commands& out) noexcept;
    void roll_healthy(std::uint64_t id, TimePoint now, Commands& out) noexcept;
    void roll_answered(std::uint64_t id, TimePoint now, Commands& out) noexcept;
    void roll_fail(std::uint64_t id, const std::string& message, TimePoint now, Commands& out) noexcept;
    void roll_finish(std::uint64_t id, bool ok, const std::string& message, TimePoint now, Commands& out) noexcept;
    void roll_step(Roll& r, RollStep step, std::string message, TimePoint now, Commands& out) noexcept;
    // Holds or releases the roll's current instance: pushes with a new ticket,
    // counted down by member_ack (at once when there is nothing to push).
    void roll_push(std::uint64_t id, bool hold, TimePoint now, Commands& out) noexcept;
    void check_rolls(const std::string& name, const Change* c, TimePoint now, Commands& out) noexcept;
    void roll_tick(TimePoint now, Commands& out) noexcept;
    std::optional<TimePoint> roll_deadline() const noexcept;
    void fail_rolls(TimePoint now, Commands& out) noexcept;

    std::map<std::string, Proc> procs_;
    std::vector<std::string> order_;  // start order (config order)
    DependencyGraph graph_;
    bool shutting_down_ = false;
    bool all_down_told_ = false;

    std::string proxy_name_;
    int proxy_pid_ = 0;
    std::map<std::string, std::vector<std::string>> pools_;   // pool -> member process names
    std::map<std::string, config::Role> pool_roles_;           // pool -> its role (config)
    std::map<std::string, ReplicaRole> replica_roles_;          // data store -> its role now
    std::map<std::string, proxy::ServerMode> sent_;           // "pool/name" -> sent and not failed
    std::map<std::string, proxy::ServerMode> member_hold_;    // name -> mode a rolling restart holds
    std::optional<TimePoint> reconcile_at_;
    bool reconcile_in_flight_ = false;
    bool proxy_hands_over_ = false;  // the proxy program has held sockets: a restart can be a handover
    Duration proxy_startsecs_{0};     // without notify, RUNNING comes only after startsecs
    std::optional<Handover> handover_;
    std::map<std::uint64_t, Retiring> retiring_;
    std::uint64_t next_retiring_ = 1;

    std::map<std::uint64_t, Wait> waits_;

    std::map<std::uint64_t, Roll> rolls_;
    std::uint64_t next_ticket_ = 1;
};

}  // namespace vigil::core
