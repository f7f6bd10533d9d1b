#include "bench_scenarios.hpp"

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <set>

namespace bench {
namespace fs = std::filesystem;

namespace {

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// One supervisor instance with its programs, in a temp dir of its own. The
// destructor stops the supervisor and kills whatever children it left.
class Session {
public:
    Session(const Contender& c, const Options& o, int programs) : contender_(c), options_(o), programs_(programs) {
        if (o.keep_tmp) dir_.keep();
        sock_ = std::make_unique<HelloSocket>(dir_.path() / "hello.sock");
        argv_ = c.prepare(dir_.path(), programs, o.bench_child + " " + sock_->path().string());
    }

    ~Session() {
        const int left = finish();
        if (left > 0) std::fprintf(stderr, "%s: killed %d leftover children\n", contender_.name.c_str(), left);
    }

    // Stops the supervisor; returns how many of its children outlived it.
    int finish() {
        if (finished_) return 0;
        finished_ = true;
        if (sup_) sup_->stop(seconds(15));
        return kill_leftovers(sock_->path().string());
    }

    // Launches the supervisor and waits for every program's hello. Returns
    // the time from launch to the last child's start.
    Ns start() {
        launched_ = now_ns();
        sup_ = std::make_unique<Process>(argv_, dir_.path() / "supervisor.out");
        const Ns deadline = launched_ + seconds(options_.start_timeout);
        std::set<pid_t> seen;
        Ns last = launched_;
        Hello h{};
        while (static_cast<int>(seen.size()) < programs_) {
            if (wait_hello(*sock_, sup_.get(), deadline, h) == Wait::deadline)
                throw Failure("only " + std::to_string(seen.size()) + " of " + std::to_string(programs_) +
                              " programs reported in within " + num(options_.start_timeout) + " s");
            if (seen.insert(h.pid).second) {
                live_.push_back(h.pid);
                last = std::max(last, h.ns);
            }
        }
        return last - launched_;
    }

    // Waits `duration`, counting hellos: none should come while idle.
    int idle(Ns duration) {
        const Ns deadline = now_ns() + duration;
        int unexpected = 0;
        Hello h{};
        while (wait_hello(*sock_, sup_.get(), deadline, h) == Wait::hello) ++unexpected;
        return unexpected;
    }

    // Kills one child after another; each latency is from just before kill()
    // to the start of its replacement, in ms.
    std::vector<double> respawns(int kills) {
        std::vector<double> ms;
        for (int k = 0; k < kills; ++k) {
            pid_t& victim = live_[static_cast<std::size_t>(k) % live_.size()];
            const Ns killed_at = now_ns();
            if (kill(victim, SIGKILL) < 0)
                throw Failure("kill #" + std::to_string(k + 1) + ": pid " + std::to_string(victim) + " is gone");
            const Ns deadline = killed_at + seconds(options_.respawn_timeout);
            Hello h{};
            do {
                if (wait_hello(*sock_, sup_.get(), deadline, h) == Wait::deadline)
                    throw Failure("no respawn within " + num(options_.respawn_timeout) + " s after kill #" +
                                  std::to_string(k + 1) + " (pid " + std::to_string(victim) + ")");
            } while (h.ns <= killed_at || h.pid == victim);  // a hello from before the kill
            ms.push_back(static_cast<double>(h.ns - killed_at) / kNsPerMs);
            victim = h.pid;
        }
        return ms;
    }

    pid_t pid() const { return sup_->pid(); }

    // What to show with a failure. The temp dir is kept for a post-mortem.
    std::string context() {
        dir_.keep();
        std::string text = "\n    config and logs kept in " + dir_.path().string();
        if (sup_) {
            const std::string tail = sup_->log_tail();
            text += "\n    --- supervisor output (tail) ---\n" + (tail.empty() ? "    (empty)\n" : tail);
        }
        return text;
    }

private:
    const Contender& contender_;
    const Options& options_;
    int programs_;
    TempDir dir_;
    std::unique_ptr<HelloSocket> sock_;
    std::unique_ptr<Process> sup_;
    std::vector<std::string> argv_;
    std::vector<pid_t> live_;
    Ns launched_ = 0;
    bool finished_ = false;
};

// Nearest rank: the smallest sample with at least p of the samples at or below it.
double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

double mib(long kb) { return static_cast<double>(kb) / 1024.0; }

void note_leftovers(Results& r, int left, int programs) {
    if (left > 0)
        r.notes.push_back(std::to_string(left) + " children outlived the supervisor's SIGTERM stop (" +
                          std::to_string(programs) + " programs)");
}

void run_small(const Contender& c, const Options& o, Results& r) {
    Session s(c, o, o.small);
    try {
        r.values[Metric::start_small_ms] = static_cast<double>(s.start()) / kNsPerMs;
        if (const int extra = s.idle(seconds(o.settle_seconds)))
            r.notes.push_back(std::to_string(extra) + " unexpected restarts right after start (" +
                              std::to_string(o.small) + " programs)");
        r.values[Metric::rss_small_mib] = mib(sample_process(s.pid()).rss_kb);
        if (o.kills > 0) {
            const auto ms = s.respawns(o.kills);
            r.values[Metric::respawn_p50_ms] = percentile(ms, 0.50);
            r.values[Metric::respawn_p99_ms] = percentile(ms, 0.99);
            r.values[Metric::respawn_max_ms] = *std::max_element(ms.begin(), ms.end());
            r.notes.push_back(std::to_string(ms.size()) + " kill -9 / respawn cycles over " +
                              std::to_string(o.small) + " programs");
        }
    } catch (const Failure& e) {
        throw Failure(std::to_string(o.small) + "-program run: " + e.what() + s.context());
    }
    note_leftovers(r, s.finish(), o.small);
}

void run_large(const Contender& c, const Options& o, Results& r) {
    Session s(c, o, o.large);
    try {
        r.values[Metric::start_large_ms] = static_cast<double>(s.start()) / kNsPerMs;
        int unexpected = s.idle(seconds(o.settle_seconds));
        const ProcSample before = sample_process(s.pid());
        r.values[Metric::rss_large_mib] = mib(before.rss_kb);
        const Ns t0 = now_ns();
        unexpected += s.idle(seconds(o.idle_seconds));
        const ProcSample after = sample_process(s.pid());
        const double window = static_cast<double>(now_ns() - t0) / kNsPerSec;
        r.values[Metric::idle_cpu_ms] = static_cast<double>(after.cpu_clock_ns - before.cpu_clock_ns) / kNsPerMs;
        r.values[Metric::idle_cpu_ticks_ms] =
            static_cast<double>(after.cpu_ticks_ns - before.cpu_ticks_ns) / kNsPerMs;
        r.values[Metric::idle_wakeups] = static_cast<double>(after.ctx_switches - before.ctx_switches);
        char buf[96];
        std::snprintf(buf, sizeof buf, "idle window %.2f s with %d programs", window, o.large);
        r.notes.push_back(buf);
        if (unexpected > 0)
            r.notes.push_back(std::to_string(unexpected) + " unexpected restarts while idle (" +
                              std::to_string(o.large) + " programs)");
    } catch (const Failure& e) {
        throw Failure(std::to_string(o.large) + "-program run: " + e.what() + s.context());
    }
    note_leftovers(r, s.finish(), o.large);
}

}  // namespace

Results run_reference(const Options& o) {
    Results r;
    try {
        TempDir dir;
        if (o.keep_tmp) dir.keep();
        HelloSocket sock(dir.path() / "hello.sock");
        const std::vector<std::string> argv{o.bench_child, sock.path().string()};
        const Ns timeout = seconds(o.respawn_timeout);
        auto spawn = [&] { return std::make_unique<Process>(argv, "/dev/null"); };
        auto hello_of = [&](Process& child, Ns deadline) {
            Hello h{};
            do {
                if (wait_hello(sock, &child, deadline, h) == Wait::deadline)
                    throw Failure("bench_child did not report in (ref)");
            } while (h.pid != child.pid());
            return h.ns;
        };

        {
            std::vector<std::unique_ptr<Process>> children;
            const Ns t0 = now_ns();
            for (int i = 0; i < o.large; ++i) children.push_back(spawn());
            std::set<pid_t> seen;
            Ns last = t0;
            Hello h{};
            while (static_cast<int>(seen.size()) < o.large) {
                if (wait_hello(sock, nullptr, t0 + seconds(o.start_timeout), h) == Wait::deadline)
                    throw Failure("bench_child did not report in (ref)");
                if (seen.insert(h.pid).second) last = std::max(last, h.ns);
            }
            r.values[Metric::start_large_ms] = static_cast<double>(last - t0) / kNsPerMs;
        }

        if (o.kills > 0) {
            auto child = spawn();
            hello_of(*child, now_ns() + timeout);
            std::vector<double> ms;
            for (int k = 0; k < o.kills; ++k) {
                const Ns killed_at = now_ns();
                kill(child->pid(), SIGKILL);
                if (!child->wait_exit(killed_at + timeout)) throw Failure("bench_child outlived SIGKILL (ref)");
                child = spawn();
                ms.push_back(static_cast<double>(hello_of(*child, killed_at + timeout) - killed_at) / kNsPerMs);
            }
            r.values[Metric::respawn_p50_ms] = percentile(ms, 0.50);
            r.values[Metric::respawn_p99_ms] = percentile(ms, 0.99);
            r.values[Metric::respawn_max_ms] = *std::max_element(ms.begin(), ms.end());
        }
    } catch (const std::exception& e) {
        r.error = std::string("    ") + e.what();
    }
    return r;
}

Contender vigild_contender(const std::string& binary, const std::string& backoff) {
    Contender c{"vigild", binary, {}};
    c.prepare = [binary, backoff](const fs::path& dir, int programs, const std::string& child) {
        fs::create_directories(dir / "state");
        fs::create_directories(dir / "log");
        const fs::path conf = dir / "vigil.conf";
        // backoff 0s,1,0s (by default) and startsecs 0: no configured delay
        // anywhere, so a respawn costs only what vigild itself takes.
        write_file(conf, "[vigil]\n"
                         "control_socket = " + (dir / "vigil.sock").string() + "\n"
                         "state_dir = " + (dir / "state").string() + "\n"
                         "log_dir = " + (dir / "log").string() + "\n"
                         "\n"
                         "[program:child]\n"
                         "command = " + child + "\n"
                         "numprocs = " + std::to_string(programs) + "\n"
                         "process_name = child-%(process_num)d\n"
                         "autorestart = true\n"
                         "startsecs = 0\n"
                         "backoff = " + backoff + "\n"
                         "stdout_logfile = NONE\n"
                         "stderr_logfile = NONE\n");
        return std::vector<std::string>{binary, "-c", conf.string()};
    };
    return c;
}

Contender supervisord_contender(const std::string& binary) {
    Contender c{"supervisord", binary, {}};
    c.prepare = [binary](const fs::path& dir, int programs, const std::string& child) {
        fs::create_directories(dir / "childlog");
        const fs::path conf = dir / "supervisord.conf";
        const std::string sock = (dir / "supervisor.sock").string();
        // startsecs=0 so RUNNING == spawned, as for vigild; supervisord has no
        // configurable restart delay: after an exit it respawns on its next
        // pass through the main loop.
        write_file(conf, "[unix_http_server]\n"
                         "file = " + sock + "\n"
                         "\n"
                         "[supervisord]\n"
                         "nodaemon = true\n"
                         "logfile = " + (dir / "supervisord.log").string() + "\n"
                         "pidfile = " + (dir / "supervisord.pid").string() + "\n"
                         "childlogdir = " + (dir / "childlog").string() + "\n"
                         "\n"
                         "[rpcinterface:supervisor]\n"
                         "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
                         "\n"
                         "[supervisorctl]\n"
                         "serverurl = unix://" + sock + "\n"
                         "\n"
                         "[program:child]\n"
                         "command = " + child + "\n"
                         "numprocs = " + std::to_string(programs) + "\n"
                         "process_name = child-%(process_num)d\n"
                         "autorestart = true\n"
                         "startsecs = 0\n"
                         "stdout_logfile = NONE\n"
                         "stderr_logfile = NONE\n");
        return std::vector<std::string>{binary, "-n", "-c", conf.string()};
    };
    return c;
}

Results run_contender(const Contender& c, const Options& o) {
    Results r;
    // The two runs are independent: a failed respawn run still leaves the
    // start, RSS and idle figures worth having.
    for (auto* run : {&run_small, &run_large}) {
        try {
            run(c, o, r);
        } catch (const std::exception& e) {
            r.error += (r.error.empty() ? "    " : "\n    ") + std::string(e.what());
        }
    }
    return r;
}

}  // namespace bench
