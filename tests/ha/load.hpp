// The client load of the HA scenarios (tests/ha/README.md): a payment
// client on one kept-alive connection (Load) and a client that opens a new
// connection for every request (Opener), both through the proxy's internal
// listener. Shared by ha_test.cpp and proxy_handover_test.cpp. Each is
// bounded in count and time; their pace is a wait on their StopSignal, so
// stop() ends them at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "http_client.hpp"
#include "stop_signal.hpp"

namespace vigil::test {

using namespace std::chrono_literals;

struct Sample {
    std::chrono::steady_clock::time_point t;  // sent
    bool ok;
    int status;
    char kind;  // 'v' validate (Service A), 'p' payment (Service B)
    std::chrono::steady_clock::time_point end{};  // answered (or failed)
};

// A client through the proxy's internal listener (the public one limits each
// IP to 100 requests a minute), on one kept-alive connection as a payment
// client library holds it: every 40 ms one token validation (GET) and one
// payment (POST with a body) with a unique Idempotency-Key, a payment that
// failed being retried with its key (as a real client would) before the next
// one. A new connection only when the server closed the last one. Bounded in
// count and time.
class Load {
public:
    Load(int port, std::string token, std::string key_prefix)
        : port_(port), token_(std::move(token)), prefix_(std::move(key_prefix)) {}
    ~Load() { stop(); }

    void start() {
        thread_ = std::thread([this] { loop(); });
    }
    void stop() {
        stop_.stop();
        if (thread_.joinable()) thread_.join();
    }

    std::vector<Sample> samples() const {
        std::lock_guard lock(mu_);
        return samples_;
    }
    std::vector<std::string> acknowledged() const {
        std::lock_guard lock(mu_);
        return acked_;
    }
    std::size_t connections() const { return connections_; }
    // The first failed requests, one line each: what came back instead.
    std::string failures() const {
        std::lock_guard lock(mu_);
        return failures_;
    }

    // Waits until `n` requests in a row, all started after `after`, succeeded:
    // woken by each recorded sample, bounded by the deadline.
    bool wait_successes(std::size_t n, std::chrono::steady_clock::time_point after, Ms timeout) const {
        std::unique_lock lock(mu_);
        return recorded_.wait_for(lock, timeout, [&] {
            std::size_t run = 0;
            for (auto it = samples_.rbegin(); it != samples_.rend() && it->ok && it->t >= after; ++it) ++run;
            return run >= n;
        });
    }

private:
    void loop() {
        const auto end = std::chrono::steady_clock::now() + 90s;
        const std::string auth = "Authorization: Bearer " + token_ + "\r\n";
        KeepAliveClient client(port_);
        std::string pending;
        for (int i = 0; i < 4000 && !stop_ && std::chrono::steady_clock::now() < end; ++i) {
            const auto t = std::chrono::steady_clock::now();
            Reply r = client.request("GET", "/auth/validate", auth);
            record({t, r.status == 200, r.status, 'v'}, r);

            if (pending.empty()) pending = prefix_ + std::to_string(next_key_++);
            const auto tp = std::chrono::steady_clock::now();
            r = client.request("POST", "/payments/", auth + "Idempotency-Key: " + pending + "\r\n",
                               R"({"amount_cents":1250,"currency":"EUR","description":"ha load"})");
            const bool ok = r.status == 201 || r.status == 200;
            record({tp, ok, r.status, 'p'}, r);
            connections_ = client.connections();
            if (ok) {
                std::lock_guard lock(mu_);
                acked_.push_back(pending);
                pending.clear();
            }
            if (stop_.pause_until(t + 40ms)) break;  // the load's pace
        }
    }
    void record(Sample s, const Reply& r) {
        s.end = std::chrono::steady_clock::now();
        {
            std::lock_guard lock(mu_);
            samples_.push_back(s);
            if (!s.ok && failures_.size() < 4000)
                failures_ += std::string(s.kind == 'v' ? "validate: " : "payment: ") +
                             (r.status ? std::to_string(r.status) + " " + r.body.substr(0, r.body.find_first_of("\r\n")).substr(0, 120)
                                       : r.error) +
                             "\n";
        }
        recorded_.notify_all();
    }

    int port_;
    std::string token_, prefix_;
    int next_key_ = 0;
    StopSignal stop_;
    std::atomic<std::size_t> connections_{0};
    std::thread thread_;
    mutable std::mutex mu_;
    mutable std::condition_variable recorded_;
    std::vector<Sample> samples_;
    std::vector<std::string> acked_;
    std::string failures_;
};

// A client that opens a new connection for every request (a health check
// through the proxy's internal listener, every 5 ms), as short-lived
// clients and other proxies' health checkers do: it counts the connection
// attempts refused (nobody listening: the socket died with the proxy) apart
// from the requests that failed once connected. Bounded in count and time.
class Opener {
public:
    explicit Opener(int port) : port_(port) {}
    ~Opener() { stop(); }
    void start() {
        thread_ = std::thread([this] {
            const auto end = std::chrono::steady_clock::now() + 90s;
            for (int i = 0; i < 18000 && !stop_ && std::chrono::steady_clock::now() < end; ++i) {
                const auto t = std::chrono::steady_clock::now();
                KeepAliveClient c(port_);
                const Reply r = c.request("GET", "/auth/health");
                ++requests_;
                if (r.status != 200) {
                    const bool refused = r.error.find("Connection refused") != std::string::npos;
                    ++(refused ? refused_ : failed_);
                    std::lock_guard lock(mu_);
                    if (failures_.size() < 2000)
                        failures_ += "opener: " + (r.status ? std::to_string(r.status) : r.error) + "\n";
                }
                if (stop_.pause_until(t + 5ms)) break;  // the load's pace
            }
        });
    }
    void stop() {
        stop_.stop();
        if (thread_.joinable()) thread_.join();
    }
    std::size_t requests() const { return requests_; }
    std::size_t refused() const { return refused_; }
    std::size_t failed() const { return failed_; }
    std::string failures() const {
        std::lock_guard lock(mu_);
        return failures_;
    }

private:
    int port_;
    StopSignal stop_;
    std::atomic<std::size_t> requests_{0}, refused_{0}, failed_{0};
    std::thread thread_;
    mutable std::mutex mu_;
    std::string failures_;
};

}  // namespace vigil::test
