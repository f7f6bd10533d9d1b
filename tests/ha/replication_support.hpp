// Shared by the replicated-pair HA scenarios (replication_test.cpp for
// PostgreSQL, redis_replication_test.cpp for Redis): waiting for a text in
// `vigilctl status NAME`, and the record a writer thread keeps of its
// acknowledged writes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <set>
#include <string>

#include "harness.hpp"
#include "stop_signal.hpp"

namespace vigil::test {

// `vigilctl status NAME` holds `needle`.
inline bool status_has(const Vigild& v, const std::string& name, const std::string& needle) {
    std::string out;
    v.ctl({"status", name}, &out);
    return out.find(needle) != std::string::npos;
}

// Re-checks at every line vigild logs, up to `timeout`.
inline bool wait_status(const Vigild& v, const std::string& name, const std::string& needle, Ms timeout) {
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
        const auto seen = v.line_count();
        if (status_has(v, name, needle)) return true;
        v.wait_for_more(seen, std::chrono::duration_cast<Ms>(until - Clock::now()));
    }
    if (status_has(v, name, needle)) return true;
    std::string out;
    v.ctl({"status"}, &out);
    std::cerr << "waited in vain for '" << needle << "' in " << name << "'s status:\n" << out << v.log_text();
    return false;
}

// The acknowledged ids (1, 2, …), the longest time between two
// acknowledgements, and the first acknowledgement after mark() (by the
// server on `first_from` when that is set, of a write sent after mark()
// when the writer says when it sent it).
struct AckLog {
    using Clock = std::chrono::steady_clock;
    std::mutex mu;
    std::condition_variable acked_cv;  // each acknowledgement: wait_more() wakes on it
    std::set<long> acked;
    long attempts = 0;
    Clock::time_point last_ack{}, mark_at{}, first_ack_after{};
    std::string first_from;
    Ms longest_gap{0};

    void mark(const std::string& from = "") {
        std::lock_guard lock(mu);
        mark_at = Clock::now();
        first_ack_after = {};
        first_from = from;
        longest_gap = Ms{0};
    }
    // `by`: the server that acknowledged it, as mark() names it; `sent`:
    // when the write was sent, if known (a write sent before mark() does
    // not count as the first after it, even if its answer comes after).
    void ack(long id, const std::string& by = "", Clock::time_point sent = {}) {
        {
            std::lock_guard lock(mu);
            const auto now = Clock::now();
            acked.insert(id);
            if (last_ack != Clock::time_point{})
                longest_gap = std::max(longest_gap, std::chrono::duration_cast<Ms>(now - last_ack));
            last_ack = now;
            if (mark_at != Clock::time_point{} && first_ack_after == Clock::time_point{} &&
                (first_from.empty() || by == first_from) &&
                (sent == Clock::time_point{} || sent >= mark_at))
                first_ack_after = now;
        }
        acked_cv.notify_all();
    }
    long count() {
        std::lock_guard lock(mu);
        return static_cast<long>(acked.size());
    }
    // Waits (bounded) until `n` more are acknowledged.
    bool wait_more(long n, Ms timeout) {
        std::unique_lock lock(mu);
        const auto target = acked.size() + static_cast<std::size_t>(n);
        return acked_cv.wait_for(lock, timeout, [&] { return acked.size() >= target; });
    }
    // From `from` to the first acknowledgement after mark(); -1 ms if none yet.
    Ms to_first_ack(Clock::time_point from) {
        std::lock_guard lock(mu);
        return first_ack_after == Clock::time_point{} ? Ms{-1}
                                                      : std::chrono::duration_cast<Ms>(first_ack_after - from);
    }
};

}  // namespace vigil::test
