// What the payment stack's replication scenarios share (8p, 9p and 10p in
// payment_replication_test.cpp, 11p in payment_redis_test.cpp; README.md
// here): the stack up with its pair in sync and the payment load warm
// before the fault; after it, the load served again, stopped and measured,
// the acknowledged payments looked up on the payments primary; and the
// printed table, also saved under results/. Each scenario keeps its fault
// and its own figures.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "load.hpp"
#include "stack.hpp"

namespace vigil::test {

long ms(std::chrono::steady_clock::duration d);
// "N ms", or "n/a" for a figure that is < 0 (not measured).
std::string ms_or_na(long v);

// What the payment load saw, measured from the fault on.
struct LoadFigures {
    std::size_t requests = 0, failed_validations = 0, failed_payments = 0;
    long first_write_ms = -1;  // fault → the first accepted payment sent after it
    long unavailable_ms = 0;   // first failed or stalled payment → the first accepted one after the last failure
    long longest_gap_ms = 0;   // between two accepted payments, around the fault
    long slowest_ms = 0;       // the slowest payment answered after the fault
    std::size_t acknowledged = 0, lost = 0;  // lost: acknowledged, missing from the payments primary
    std::string failures;      // the load's failed requests, one line each
};

// The payment stack (stack.hpp) with every program healthy, the pair in
// sync, a user logged in, the load (load.hpp) warm, and vigild's log cursor
// past it all: the moment before the fault.
class PaymentRun {
public:
    // `number`: the scenario ("8p"), which names its user and payment keys;
    // `in_sync`: each (program, text of its `vigilctl status`) that says so.
    PaymentRun(const std::string& number, const std::vector<std::pair<std::string, std::string>>& in_sync);

    // The load served again (20 requests in a row on its connection),
    // stopped, and measured from `t0`, the fault.
    LoadFigures finish(std::chrono::steady_clock::time_point t0);

    Stack s;

private:
    std::unique_ptr<Load> load_;
};

// The fault of 8p, 10p and 11p: `name`'s server SIGKILLed. With
// `remove_first`, that directory is deleted first, the server stopped
// (SIGSTOP) meanwhile so that it cannot act on its lost files before it
// dies. `from`: vigild's log position before the kill; `t0`: the kill;
// `detected_ms`: until vigild logged the exit.
struct Kill {
    std::size_t from = 0;
    std::chrono::steady_clock::time_point t0;
    long detected_ms = -1;
};
Kill kill9(Stack& s, const std::string& name, const std::string& remove_first = "");

// A scenario's table: `| scenario N: fault | vigil |`, the scenario's own
// rows, then the load's (failed requests, payments acknowledged / lost).
class ScenarioTable {
public:
    ScenarioTable(std::string number, const std::string& fault);
    ScenarioTable& row(const std::string& label, const std::string& value);
    ScenarioTable& load_rows(const LoadFigures& f);
    // Prints the table, the load's failed requests and `details`; the table
    // also to results/scenario-N.md.
    void publish(const LoadFigures& f, const std::string& details) const;

private:
    std::string number_, text_;
};

}  // namespace vigil::test
