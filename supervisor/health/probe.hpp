// One health check of one kind (HTTP(S), TCP, PostgreSQL, Redis, command),
// run asynchronously on vigild's io_context. A probe is reusable: the
// monitor calls run() once per interval, never while a run is pending.
// Each run has its own deadline (the check's `timeout`), so a hung server or
// command fails that run instead of stalling anything else.
//
// What counts as healthy per kind is listed in docs/health.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace boost::asio {
class io_context;
}

namespace vigil::supervisor {
class ChildTable;
}

namespace vigil::health {

struct ProbeResult {
    bool ok = false;
    std::string detail;  // one line for `vigilctl health`: "HTTP 200", "exit status 1: …", "timed out after 2s (connecting)"
    std::chrono::microseconds latency{0};
};

class Probe {
public:
    using Callback = std::function<void(ProbeResult)>;

    virtual ~Probe() = default;
    // Starts one check. `done` is called exactly once, from the io_context,
    // never from inside run() itself, unless cancel() comes first.
    virtual void run(Callback done) = 0;
    // Abandons the pending run, if any: its I/O is closed (an exec probe's
    // process group is killed) and `done` is never called.
    virtual void cancel() noexcept = 0;
};

// How exec: checks run. By default they inherit vigild's environment, working
// directory and user; the supervisor can pass the program's own.
struct ExecContext {
    // vigild's child table: the check's shell is registered there so the
    // subreaper's reaper hands its exit back instead of reaping it (null:
    // no reaper, as in the probe tests).
    supervisor::ChildTable* children = nullptr;
    std::optional<std::vector<std::string>> env;  // "KEY=VALUE"; nullopt: vigild's environ
    std::string directory;                        // empty: vigild's cwd
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::vector<gid_t> groups;  // supplementary groups, used with uid
};

// The probe that `hc` describes, with `hc.timeout` per run; nullptr for
// HealthKind::none.
std::shared_ptr<Probe> make_probe(boost::asio::io_context& io, const config::HealthCheck& hc,
                                  const ExecContext& exec = {});

}  // namespace vigil::health
