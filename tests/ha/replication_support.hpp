// Shared by the replicated-pair HA scenarios (replication_test.cpp for
// PostgreSQL, redis_replication_test.cpp for Redis): waiting for a text in
// `vigilctl status NAME`, and reading vigild's /metrics. Their writer
// thread is acked_writer.hpp.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "harness.hpp"

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

// vigild's /metrics, every sample as `name{labels}` → its value's text
// (the replication families: docs/replication.md, "What you see").
inline std::map<std::string, std::string> scrape_metrics(const Vigild& v) {
    const std::string res =
        raw_exchange(v.socket_path(), "GET /metrics HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n");
    std::map<std::string, std::string> out;
    if (res.rfind("HTTP/1.1 200", 0) != 0) return out;
    std::istringstream body(res.substr(res.find("\r\n\r\n") + 4));
    for (std::string line; std::getline(body, line);) {
        const auto sp = line.rfind(' ');
        if (line.empty() || line[0] == '#' || sp == std::string::npos) continue;
        out[line.substr(0, sp)] = line.substr(sp + 1);
    }
    return out;
}

// The value of `series` in a scrape; nullopt when it is absent or not a
// number (the whole text must parse).
inline std::optional<double> metric(const std::map<std::string, std::string>& scrape, const std::string& series) {
    const auto it = scrape.find(series);
    if (it == scrape.end() || it->second.empty()) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (end != it->second.c_str() + it->second.size()) return std::nullopt;
    return v;
}

// A pair's replication series on /metrics as docs/replication.md lists
// them: vigil_replication_primary 1 for `primary` and 0 for `replica`;
// synchronous for the primary only; streaming for the replica only, and
// while it streams its lag in bytes and seconds (numbers, ≥ 0, and small:
// in sync). `in_sync`: the replica streams and is in sync; otherwise it is
// stopped (streaming 0, no lag series, the primary not synchronous).
inline void check_pair_metrics(const Vigild& v, const std::string& primary, const std::string& replica,
                               bool in_sync) {
    const auto scrape = scrape_metrics(v);
    const auto series = [](const char* family, const std::string& name) {
        return std::string(family) + "{name=\"" + name + "\"}";
    };
    std::string text;
    for (const auto& [k, val] : scrape)
        if (k.rfind("vigil_replication_", 0) == 0) text += k + " " + val + "\n";
    std::cout << "vigil_replication_* on /metrics, " << primary << " the primary, " << replica
              << (in_sync ? " in sync" : " stopped") << ":\n" << text;
    INFO("vigil_replication_* on /metrics:\n" << text);
    CHECK(metric(scrape, series("vigil_replication_primary", primary)) == 1.0);
    CHECK(metric(scrape, series("vigil_replication_primary", replica)) == 0.0);
    CHECK(metric(scrape, series("vigil_replication_synchronous", primary)) == (in_sync ? 1.0 : 0.0));
    CHECK_FALSE(scrape.count(series("vigil_replication_synchronous", replica)));
    CHECK(metric(scrape, series("vigil_replication_streaming", replica)) == (in_sync ? 1.0 : 0.0));
    for (const char* family : {"vigil_replication_streaming", "vigil_replication_lag_bytes",
                               "vigil_replication_lag_seconds"})
        CHECK_FALSE(scrape.count(series(family, primary)));
    const auto bytes = metric(scrape, series("vigil_replication_lag_bytes", replica));
    const auto seconds = metric(scrape, series("vigil_replication_lag_seconds", replica));
    if (!in_sync) {  // nothing to say, rather than a 0 that reads as caught up
        CHECK_FALSE(scrape.count(series("vigil_replication_lag_bytes", replica)));
        CHECK_FALSE(scrape.count(series("vigil_replication_lag_seconds", replica)));
        return;
    }
    REQUIRE(bytes);
    REQUIRE(seconds);
    CHECK(*bytes >= 0);
    CHECK(*bytes < 16 * 1024 * 1024);  // in sync: far below one WAL segment
    CHECK(*seconds >= 0);
    CHECK(*seconds <= 10);
}

// A pair in sync, its series on /metrics; `vigilctl switchover REPLICA`,
// the series again with the roles swapped; then the new replica stopped:
// not streaming, no lag, the primary not synchronous. `in_sync` and `alone`: the
// primary's status then ("primary, synchronous" and "primary, asynchronous"
// for PostgreSQL).
inline void check_metrics_across_switchover(const Vigild& v, const std::string& primary, const std::string& replica,
                                            const std::string& in_sync, const std::string& alone) {
    using namespace std::chrono_literals;
    REQUIRE(wait_status(v, replica, "replica of " + primary + ", sync", 60s));
    REQUIRE(wait_status(v, primary, in_sync, 10s));
    check_pair_metrics(v, primary, replica, true);
    std::string out;
    REQUIRE(v.ctl({"switchover", replica}, &out) == 0);
    REQUIRE(wait_status(v, primary, "replica of " + replica + ", sync", 60s));
    REQUIRE(wait_status(v, replica, in_sync, 30s));
    check_pair_metrics(v, replica, primary, true);
    REQUIRE(v.ctl({"stop", primary}, &out) == 0);
    REQUIRE(wait_status(v, replica, alone, 30s));  // logged: the primary no longer counts on it
    check_pair_metrics(v, replica, primary, false);
}

}  // namespace vigil::test
