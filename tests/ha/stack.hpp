// The payment stack of config/examples/payment-system.ini on free ports in a
// temp dir under the real vigild: shared by the failover scenarios (tests/ha)
// and the chaos suite (tests/chaos), whose clients are KeepAliveClients
// (tests/integration/http_client.hpp).
//
// Needs root (postgres and redis run as their own users); callers check
// stack_prerequisites() and are SKIPPED without them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"
#include "http_client.hpp"
#include "prerequisites.hpp"

namespace vigil::test {

// Distinct free loopback ports: all sockets are held until every port is
// chosen, so no two are the same.
std::vector<int> free_ports(std::size_t n);

// Root, the postgres, redis and nobody users, redis-server, psql, curl,
// PostgreSQL: a test checks them with VIGIL_SKIP_UNLESS (SKIPPED if missing).
Prerequisites stack_prerequisites();

// The processes of the stack, as in payment-system.ini.
extern const std::vector<std::string> kPrograms;

struct Stack {
    std::unique_ptr<Vigild> v;
    std::map<int, int> port;  // the demo's port -> this stack's port
    int pg_b = 0, pg_b_replica = 0, internal = 0, public_tls = 0;
    int payments_db = 0;  // vigil-proxy's TCP listener in front of the payments primary
    int redis = 0, redis_replica = 0;
    int cache = 0;  // vigil-proxy's TCP listener in front of the Redis master

    // Writes the config and starts vigild (it returns once the control
    // socket is bound; programs are still starting).
    Stack();

    // Every program RUNNING (past startsecs: only then does vigild put a pool
    // member back into the proxy) and healthy in `vigilctl status`.
    bool all_healthy() const;
    // Re-checks after each line vigild logs (every state or health change is
    // one), so it wakes on the change itself, bounded by the deadline.
    std::optional<std::chrono::steady_clock::time_point> wait_all_healthy(Ms timeout) const;
    pid_t pid_of(const std::string& name) const;
    // `vigilctl status NAME` holds `needle` (e.g. "primary, synchronous"):
    // re-checked at every line vigild logs, bounded by the deadline.
    bool wait_status(const std::string& name, const std::string& needle, Ms timeout) const;
    // Moves the log cursor past everything logged so far.
    void skip_log();
    // Registers `user` with Service A through the proxy's internal listener
    // and logs in: the bearer token for the load.
    std::string login(const std::string& user) const;
    // Idempotency keys of every row of payments_db.payments on the current
    // primary (postgres-b or postgres-b-replica), read through the TCP listener.
    std::set<std::string> stored_payment_keys() const;
};

// `t0` (a fault) → the first line matching `re` that vigild logged from line
// `from` on, in ms (woken by each line vigild logs); REQUIREd within `timeout`.
long logged_after(const Stack& s, const std::string& re, std::size_t from, std::chrono::steady_clock::time_point t0,
                  Ms timeout);

// `root` and every process below it (postgres workers included).
std::vector<pid_t> process_tree(pid_t root);

}  // namespace vigil::test
