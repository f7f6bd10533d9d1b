// PostgreSQL streaming replication: pg_promote(), synchronous_standby_names,
// pg_stat_replication (docs/replication.md).
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "supervisor/replication/pg_sql.hpp"
#include "supervisor/replication/store.hpp"

namespace vigil::supervisor::replication {
namespace {

using namespace std::chrono_literals;

constexpr auto kPromoteResend = 100ms;

class PgStore final : public Store {
public:
    bool synchronous_capable() const override { return true; }

    // PostgreSQL 15's startup process can lose a promotion request: the
    // request and a walreceiver's death both only set the recovery latch,
    // and when one wakeup serves both, the startup process may handle the
    // dead walreceiver first and sleep wal_retrieve_retry_interval (5 s)
    // before it looks for the request again (8p missed its 3 s that way,
    // about 1 run in 10 on a loaded machine). A repeated request ends that
    // sleep, so it is repeated every 100 ms until recovery has ended
    // (a request file left by the last one is removed by the postmaster at
    // its next start).
    std::string promote(const Target& t) const override {
        std::string error = pg_exec(t, {"SELECT pg_promote(false)"}, nullptr, 10);
        if (!error.empty()) return error;
        const auto until = std::chrono::steady_clock::now() + 30s;
        auto resend = std::chrono::steady_clock::now() + kPromoteResend;
        error = "still in recovery 30 s after the promotion request";
        while (std::chrono::steady_clock::now() < until) {
            Rows rows;
            const std::string e = pg_exec(t, {"SELECT pg_is_in_recovery()"}, &rows, 5);
            if (e.empty() && !rows.empty() && !rows[0].empty() && rows[0][0] == "f") return {};
            if (!e.empty()) error = e;
            if (std::chrono::steady_clock::now() >= resend) {
                // Fails harmlessly ("recovery is not in progress") if promotion just ended.
                (void)pg_exec(t, {"SELECT pg_promote(false)"}, nullptr, 5);
                resend = std::chrono::steady_clock::now() + kPromoteResend;
            }
            std::this_thread::sleep_for(10ms);  // a poll pace against the server
        }
        return error;
    }

    std::string set_sync(const Target& t, const std::string& standby) const override {
        return pg_exec(t,
                       {"ALTER SYSTEM SET synchronous_standby_names = " + standby_name_literal(standby),
                        "SELECT pg_reload_conf()"},
                       nullptr, 60);
    }

    std::string set_async(const Target& t) const override {
        return pg_exec(t, {"ALTER SYSTEM SET synchronous_standby_names = ''", "SELECT pg_reload_conf()"}, nullptr, 60);
    }

    std::string wait_replayed(const Target& t) const override {
        // The old primary's clean stop sent its last WAL before it exited:
        // what is received is everything; wait for replay.
        std::string error = "not replayed within 10 s";
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < until) {
            Rows rows;
            std::string e = pg_exec(
                t, {"SELECT pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()"},
                &rows, 5);
            if (e.empty() && !rows.empty() && rows[0][0] == "t") return {};
            if (!e.empty()) error = e;
            std::this_thread::sleep_for(10ms);  // a poll pace against the server
        }
        return error;
    }

    std::string poll(const Member& primary, const std::vector<Member>& replicas,
                     std::map<std::string, core::ReplicaLag>& lags) const override {
        Rows rows;
        std::string error = pg_exec(
            primary.at,
            {"SELECT application_name, state, sync_state, "
             "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint, "
             "COALESCE(EXTRACT(EPOCH FROM replay_lag) * 1000, 0)::bigint FROM pg_stat_replication"},
            &rows, 2);
        if (!error.empty()) return error;
        for (const auto& r : replicas) {
            core::ReplicaLag lag;
            for (const auto& row : rows)
                if (row.size() == 5 && row[0] == r.name) {
                    lag.streaming = row[1] == "streaming";
                    lag.sync = row[2] == "sync";
                    lag.bytes = static_cast<std::uint64_t>(std::max(0LL, std::atoll(row[3].c_str())));
                    lag.seconds = core::Duration(std::atoll(row[4].c_str()));
                }
            lags[r.name] = lag;
        }
        return {};
    }

    bool data_usable(const std::string& data_dir) const override {
        struct stat st {};
        return ::stat((data_dir + "/PG_VERSION").c_str(), &st) == 0 && st.st_size > 0;
    }
};

}  // namespace

std::unique_ptr<Store> make_pg_store() { return std::make_unique<PgStore>(); }

}  // namespace vigil::supervisor::replication
