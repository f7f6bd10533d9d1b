// A manual-clock world for ProcessSet scenarios: the set's commands are
// carried out against pure ProcessMachines (no processes), timers fire when
// the test advances the clock, and every command is written to a log the
// test reads as a script ("start db", "set_member web/a up", …).
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "supervisor/core/process_set.hpp"

namespace vigil::core::testing {

config::Program program(const std::string& name, std::vector<std::string> deps = {}, bool healthy_deps = false);

class World {
public:
    explicit World(config::Config cfg, std::set<std::string> stopped_by_hand = {});

    // Events in.
    void run(Commands cs);
    void send(const std::string& name, const Event& e);  // to its machine, as the runner would
    void exit(const std::string& name, int code = 1);    // the process ended on its own
    void health(const std::string& name, HealthStatus h);
    void advance(Duration d);                             // fires timers and the set's deadlines in order
    void ack_pushes(bool ok);                             // answers every set_member not answered yet (503 when not ok)
    void barriers();                                      // the proxy executor reaches every handover_barrier

    // A handover's processes: the incoming one of the proxy, and each
    // retiring one by id (machines keyed "NAME+" and "NAME~ID").
    static std::string incoming(const std::string& name) { return name + "+"; }
    static std::string retiring(const std::string& name, std::uint64_t id) { return name + "~" + std::to_string(id); }
    bool exists(const std::string& key) const { return machines_.count(key) > 0; }

    // Commands out: everything logged since the last call, then cleared.
    std::vector<std::string> take();
    State state(const std::string& name) const { return machines_.at(name).state(); }
    int pid(const std::string& name) const { return machines_.at(name).pid(); }
    const Command* wait_done(std::uint64_t id) const;
    // Every roll_step and roll_done, in order ("b draining: out of pool web, …").
    std::vector<Command> roll_report;

    TimePoint now{};
    config::Config config;
    ProcessSet set;
    std::set<std::string> slow;      // processes that ignore their stop signal
    bool auto_ack = true;            // set_member answered 2xx at once
    bool all_down = false;
    std::map<std::string, std::string> proxy_pools;  // what the proxy has: "pool/name" -> mode
    bool proxy_answers = true;
    std::map<std::string, long> active;  // requests in flight at the proxy, per member (count_active)
    bool answer_counts = true;           // count_active answered at once
    bool auto_barrier = true;        // handover_barrier reached at once

private:
    void apply(const std::string& name, const Decision& d);
    void reached(const std::string& name, const Decision& d);

    Rng rng_{7};
    std::map<std::string, ProcessMachine> machines_;
    std::map<std::string, std::map<Timer, TimePoint>> timers_;
    std::deque<Command> queue_;
    bool running_ = false;
    int next_pid_ = 100;
    std::vector<std::string> log_;
    std::vector<Command> unanswered_;
    std::map<std::uint64_t, Command> waits_done_;
    std::vector<std::uint64_t> barriers_;
    void move_machine(const std::string& from, const std::string& to);
};

}  // namespace vigil::core::testing
