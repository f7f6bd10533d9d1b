// SQL to a replicated pair's servers for the replication manager: the
// simple query protocol (core/pg_query.hpp) on a blocking socket with
// timeouts, run on a thread of their own (SqlWorker) so a server that
// hangs never stalls vigild's event loop; results go back to the loop by
// boost::asio::post.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vigil::supervisor::replication {

// Where a server listens (numeric address, so libpq resolves nothing) and as whom.
struct PgTarget {
    std::string host;
    int port = 0;
    std::string user;
};

using Rows = std::vector<std::vector<std::string>>;

// Runs each statement in turn (each its own implicit transaction: ALTER
// SYSTEM refuses a transaction block). "" on success, else the error; the
// last statement's rows in `rows`. A connection attempt gives up after 2 s,
// a statement after `timeout_s`.
std::string pg_exec(const PgTarget& t, const std::vector<std::string>& statements, Rows* rows = nullptr,
                    int timeout_s = 10);

// A double-quoted identifier for synchronous_standby_names, inside a SQL literal.
std::string standby_name_literal(const std::string& name);

// One background thread, jobs in order.
class SqlWorker {
public:
    SqlWorker();
    ~SqlWorker();
    SqlWorker(const SqlWorker&) = delete;
    SqlWorker& operator=(const SqlWorker&) = delete;
    void post(std::function<void()> job);

private:
    void run();
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace vigil::supervisor::replication
