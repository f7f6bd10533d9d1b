// supervisor_bench: vigild against supervisord, side by side in one run.
// See tests/bench/README.md for what is measured and how.
#include "bench_scenarios.hpp"
#include "bench_support.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace bench;

namespace {

constexpr const char* kUsage = R"(usage: supervisor_bench [options]
  --kills N             kill -9 / respawn cycles (default 50)
  --idle-seconds S      idle window with the large program set (default 30)
  --settle-seconds S    pause after the last hello before RSS/idle figures (default 1)
  --small N             programs in the respawn run (default 10)
  --large N             programs in the start/idle run (default 200)
  --start-timeout S     deadline for all programs to report in (default 60)
  --respawn-timeout S   deadline for one respawn (default 10)
  --vigild PATH         default: <build>/supervisor/vigild beside this driver
  --vigild-backoff SPEC vigild's backoff (default 0s,1,0s: no delay)
  --supervisord PATH    default: /usr/bin/supervisord
  --bench-child PATH    default: bench_child beside this driver
  --only vigild|supervisord
  --keep-tmp            keep the temp dirs (configs, logs) for inspection
)";

[[noreturn]] void usage_error(const std::string& msg) {
    std::fprintf(stderr, "supervisor_bench: %s\n%s", msg.c_str(), kUsage);
    std::exit(2);
}

double parse_number(const std::string& flag, const std::string& text, double min) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(v) || v < min)
        usage_error(flag + " wants a number >= " + std::to_string(static_cast<int>(min)) + ", not '" + text + "'");
    return v;
}

Options parse_options(int argc, char** argv) {
    Options o;
    std::error_code ec;
    const fs::path here = fs::read_symlink("/proc/self/exe", ec).parent_path();
    // build/tests/bench/supervisor_bench -> build/supervisor/vigild
    o.vigild = (here / ".." / ".." / "supervisor" / "vigild").lexically_normal().string();
    o.bench_child = (here / "bench_child").string();

    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i], value;
        if (flag == "-h" || flag == "--help") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        }
        if (flag == "--keep-tmp") {
            o.keep_tmp = true;
            continue;
        }
        if (const auto eq = flag.find('='); eq != std::string::npos) {
            value = flag.substr(eq + 1);
            flag.resize(eq);
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            usage_error(flag + " wants a value");
        }
        if (flag == "--kills") o.kills = static_cast<int>(parse_number(flag, value, 0));
        else if (flag == "--idle-seconds") o.idle_seconds = parse_number(flag, value, 0);
        else if (flag == "--settle-seconds") o.settle_seconds = parse_number(flag, value, 0);
        else if (flag == "--small") o.small = static_cast<int>(parse_number(flag, value, 1));
        else if (flag == "--large") o.large = static_cast<int>(parse_number(flag, value, 1));
        else if (flag == "--start-timeout") o.start_timeout = parse_number(flag, value, 0);
        else if (flag == "--respawn-timeout") o.respawn_timeout = parse_number(flag, value, 0);
        else if (flag == "--vigild") o.vigild = value;
        else if (flag == "--vigild-backoff") o.vigild_backoff = value;
        else if (flag == "--supervisord") o.supervisord = value;
        else if (flag == "--bench-child") o.bench_child = value;
        else if (flag == "--only" && (value == "vigild" || value == "supervisord")) {
            o.run_vigild = value == "vigild";
            o.run_supervisord = value == "supervisord";
        } else usage_error("unknown option or value: " + flag + " " + value);
    }
    // bench_child is a command line word in both configs; keep it one word.
    o.bench_child = fs::absolute(o.bench_child).lexically_normal().string();
    if (o.bench_child.find_first_of(" \t\"'%;") != std::string::npos)
        usage_error("bench_child path must not contain spaces, quotes, % or ;");
    return o;
}

struct Row {
    Metric metric;
    std::string label;
    std::optional<double> target;  // vigild's target from the issue: value <= target
    bool count = false;            // an integer, printed as one
};

std::vector<Row> rows(const Options& o) {
    char idle_buf[64];
    std::snprintf(idle_buf, sizeof idle_buf, "%d progs (/%gs)", o.large, o.idle_seconds);
    const std::string idle = idle_buf;
    return {
        {Metric::respawn_p50_ms, "respawn p50 (ms)", std::nullopt},
        {Metric::respawn_p99_ms, "respawn p99 (ms)", 2.0},
        {Metric::respawn_max_ms, "respawn max (ms)", std::nullopt},
        {Metric::rss_small_mib, "RSS, " + std::to_string(o.small) + " programs (MiB)", 4.0},
        {Metric::rss_large_mib, "RSS, " + std::to_string(o.large) + " programs (MiB)", 8.0},
        {Metric::idle_wakeups, "idle wake-ups, " + idle, 0.0, true},
        {Metric::idle_cpu_ms, "idle CPU ms, " + idle, std::nullopt},
        {Metric::idle_cpu_ticks_ms, "  utime+stime ms (tick res.)", std::nullopt},
        {Metric::start_large_ms, "start " + std::to_string(o.large) + " to RUNNING (ms)", 300.0},
        {Metric::start_small_ms, "start " + std::to_string(o.small) + " to RUNNING (ms)", std::nullopt},
    };
}

std::string format_value(std::optional<double> v, bool count = false) {
    if (!v) return "n/a";
    char buf[32];
    const double a = std::fabs(*v);
    std::snprintf(buf, sizeof buf, count || a >= 1000 ? "%.0f" : a < 10 ? "%.2f" : "%.1f", *v);
    return buf;
}

std::string format_ratio(std::optional<double> vigild, std::optional<double> supervisord) {
    if (!vigild || !supervisord) return "";
    if (*vigild == 0) return *supervisord == 0 ? "=" : "inf";
    char buf[32];
    const double r = *supervisord / *vigild;
    std::snprintf(buf, sizeof buf, r >= 100 ? "%.0fx" : "%.1fx", r);
    return buf;
}

std::optional<double> value_of(const std::optional<Results>& r, Metric m) {
    if (!r) return std::nullopt;
    const auto it = r->values.find(m);
    if (it == r->values.end()) return std::nullopt;
    return it->second;
}

void print_table(const Options& o, const std::optional<Results>& vig, const std::optional<Results>& sup,
                 const std::optional<Results>& ref, const std::vector<std::string>& notices) {
    std::printf("\n%-34s %12s %12s %9s %9s   %s\n", "metric", "vigild", "supervisord", "ratio", "ref",
                "vigild target");
    for (const Row& row : rows(o)) {
        const auto v = value_of(vig, row.metric), s = value_of(sup, row.metric), f = value_of(ref, row.metric);
        std::string target;
        if (row.target) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "<= %g", *row.target);
            target = buf;
            if (v) target += *v <= *row.target ? "  ok" : "  MISS";
        }
        std::printf("%-34s %12s %12s %9s %9s   %s\n", row.label.c_str(), format_value(v, row.count).c_str(),
                    format_value(s, row.count).c_str(), format_ratio(v, s).c_str(),
                    f ? format_value(f).c_str() : "", target.c_str());
    }
    std::printf("  ratio = supervisord / vigild. ref = the driver itself doing the job (pidfd, then fork+exec),\n"
                "  what this machine allows a supervisor with no overhead of its own\n");
    for (const auto& [name, r] :
         {std::pair{"vigild", &vig}, std::pair{"supervisord", &sup}, std::pair{"ref", &ref}}) {
        if (!*r) continue;
        for (const auto& note : (*r)->notes) std::printf("  %s: %s\n", name, note.c_str());
        if (!(*r)->error.empty()) std::printf("  %s FAILED:\n%s\n", name, (*r)->error.c_str());
    }
    for (const auto& notice : notices) std::printf("  %s\n", notice.c_str());
}

bool executable(const std::string& path) { return access(path.c_str(), X_OK) == 0 && !fs::is_directory(path); }

std::optional<Results> run(const Contender& c, const Options& o) {
    std::fprintf(stderr, "== %s (%s): %d programs, %d kills; then %d programs, %.0f s idle\n", c.name.c_str(),
                 c.binary.c_str(), o.small, o.kills, o.large, o.idle_seconds);
    return run_contender(c, o);
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse_options(argc, argv);
    install_interrupt_handlers();
    become_subreaper();
    if (!executable(o.bench_child)) {
        std::fprintf(stderr, "supervisor_bench: no bench_child at %s (--bench-child PATH)\n", o.bench_child.c_str());
        return 2;
    }
    utsname u{};
    uname(&u);
    std::printf("supervisor_bench: Linux %s, %ld CPUs; kills %d, idle %.1f s, settle %.1f s\n", u.release,
                sysconf(_SC_NPROCESSORS_ONLN), o.kills, o.idle_seconds, o.settle_seconds);
    std::fflush(stdout);

    std::optional<Results> vig, sup, ref;
    std::vector<std::string> notices;
    bool failed = false;
    try {
        std::fprintf(stderr, "== ref: the driver respawns bench_child %d times, starts %d\n", o.kills, o.large);
        ref = run_reference(o);
        failed |= !ref->error.empty();
        if (o.run_vigild) {
            if (executable(o.vigild)) {
                vig = run(vigild_contender(o.vigild, o.vigild_backoff), o);
                failed |= !vig->error.empty();
            } else {
                notices.push_back("vigild: no executable at " + o.vigild + ": supervisord only (--vigild PATH)");
                std::fprintf(stderr, "%s\n", notices.back().c_str());
            }
        }
        if (o.run_supervisord) {
            if (executable(o.supervisord)) {
                sup = run(supervisord_contender(o.supervisord), o);
                failed |= !sup->error.empty();
            } else {
                notices.push_back("supervisord: no executable at " + o.supervisord + " (--supervisord PATH)");
                std::fprintf(stderr, "%s\n", notices.back().c_str());
                failed = true;
            }
        }
    } catch (const Interrupted&) {
        std::fprintf(stderr, "supervisor_bench: interrupted; supervisors stopped, temp dirs removed\n");
        return 130;
    }
    print_table(o, vig, sup, ref, notices);
    return failed ? 1 : 0;
}
