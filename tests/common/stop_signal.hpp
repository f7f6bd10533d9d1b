// The end of a test's client thread (a writer, a load loop) as an event: the
// thread's pace between requests and between connection attempts is a wait
// on this signal with a deadline, so stop() wakes it at once instead of
// after the rest of a sleep, and nothing paces with a bare sleep.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace vigil::test {

class StopSignal {
public:
    void stop() {
        {
            std::lock_guard lock(mu_);
            stopped_ = true;
        }
        cv_.notify_all();
    }
    bool stopped() const {
        std::lock_guard lock(mu_);
        return stopped_;
    }
    explicit operator bool() const { return stopped(); }
    // Waits until `t` or stop(); true when stopped.
    template <class TimePoint>
    bool pause_until(TimePoint t) {
        std::unique_lock lock(mu_);
        return cv_.wait_until(lock, t, [&] { return stopped_; });
    }
    template <class Duration>
    bool pause_for(Duration d) {
        return pause_until(std::chrono::steady_clock::now() + d);
    }

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stopped_ = false;
};

}  // namespace vigil::test
