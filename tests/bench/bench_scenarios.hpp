// What the supervisor benchmark measures, for one supervisor at a time.
#pragma once

#include "bench_support.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace bench {

struct Options {
    int kills = 50;
    double idle_seconds = 30;
    double settle_seconds = 1;    // after the last hello, before RSS and idle figures
    int small = 10;               // programs for the respawn and small-RSS run
    int large = 200;              // programs for the start, large-RSS and idle run
    double start_timeout = 60;    // seconds for all programs to report in
    double respawn_timeout = 10;  // seconds for one respawn
    std::string vigild;
    std::string vigild_backoff = "0s,1,0s";  // no configured delay
    std::string supervisord = "/usr/bin/supervisord";
    std::string bench_child;
    bool run_vigild = true;
    bool run_supervisord = true;
    bool keep_tmp = false;
};

// One supervisor under test: how to configure and launch it.
struct Contender {
    std::string name;
    std::string binary;
    // Writes the config for `programs` copies of `child_command` into `dir`
    // and returns the supervisor's argv.
    std::function<std::vector<std::string>(const std::filesystem::path& dir, int programs,
                                           const std::string& child_command)>
        prepare;
};

Contender vigild_contender(const std::string& binary, const std::string& backoff);
Contender supervisord_contender(const std::string& binary);

enum class Metric {
    respawn_p50_ms,
    respawn_p99_ms,
    respawn_max_ms,
    rss_small_mib,
    rss_large_mib,
    idle_cpu_ms,
    idle_cpu_ticks_ms,
    idle_wakeups,
    start_large_ms,
    start_small_ms,
};

struct Results {
    std::map<Metric, double> values;
    std::vector<std::string> notes;  // counts and oddities worth a line under the table
    std::string error;               // why some figures are missing
};

// The reference: the driver itself doing a supervisor's job with no overhead
// of its own. Respawn: notified of the exit by a pidfd, it forks and execs the
// replacement at once. Start: it forks and execs the large set one after
// another. What this machine allows; fills the respawn and start_large metrics.
Results run_reference(const Options& o);

// Both runs (small: respawns; large: start, RSS, idle) for one contender.
// Never throws Failure: what failed lands in Results::error.
Results run_contender(const Contender& c, const Options& o);

}  // namespace bench
