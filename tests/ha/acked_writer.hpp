// The writer thread of the replicated-pair scenarios (replication_test.cpp
// for PostgreSQL, redis_replication_test.cpp for Redis): it writes ids 1, 2,
// … one at a time through its client, connects again after any failure, and
// keeps the record of what was acknowledged (AckLog) that the scenarios
// count the lost writes from. Each test supplies only its client: how to
// connect, how to write one id, whether the connection is usable.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "harness.hpp"
#include "stop_signal.hpp"

namespace vigil::test {

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

// What a write's acknowledgement tells AckLog::ack: the server that gave it
// (empty when the client cannot tell) and when the write was sent (unset
// when the client does not say).
struct Ack {
    std::string by;
    std::chrono::steady_clock::time_point sent{};
};

// One connection of a writer's client (a libpq connection, a RESP socket).
class WriterConnection {
public:
    virtual ~WriterConnection() = default;
    virtual bool ok() const = 0;
    // Writes `id`; nullopt when it was not acknowledged (an error reply or a
    // cut connection): the writer then drops this connection for a new one.
    virtual std::optional<Ack> write(long id) = 0;
};

class Writer : public AckLog {
public:
    using Connect = std::function<std::unique_ptr<WriterConnection>()>;

    ~Writer() { finish(); }  // a failed REQUIRE must not leave the thread running

    // `pace`: the wait after each acknowledged write (none when 0).
    void start(Connect connect, Ms pace = Ms{0}) {
        connect_ = std::move(connect);
        pace_ = pace;
        thread_ = std::thread([this] { run(); });
    }
    void finish() {
        stop_.stop();
        if (thread_.joinable()) thread_.join();
    }

private:
    void run() {
        using namespace std::chrono_literals;
        std::unique_ptr<WriterConnection> c;
        long next = 1;
        const auto until = Clock::now() + 120s;  // bounded whatever happens
        while (!stop_ && Clock::now() < until) {
            if (!c || !c->ok()) {
                c = connect_();
                if (!c->ok()) {
                    if (stop_.pause_for(20ms)) break;  // the retry pace; finish() ends it at once
                    continue;
                }
            }
            const long id = next++;
            ++attempts;
            const auto a = c->write(id);
            if (!a) {
                c.reset();
                continue;
            }
            ack(id, a->by, a->sent);
            if (pace_ > Ms{0} && stop_.pause_for(pace_)) break;  // the writer's pace
        }
    }

    Connect connect_;
    Ms pace_{0};
    StopSignal stop_;
    std::thread thread_;
};

}  // namespace vigil::test
