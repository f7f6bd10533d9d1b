// libpq, the way both services use it: a small pool of blocking connections
// that heals itself after PostgreSQL restarts.
//
// Nothing is cached about the server's state: every request that needs the
// database takes a pooled connection (or opens one), and a connection that
// turns out dead — the server restarted since it was last used — is dropped
// and the operation retried once on a fresh one. So the first request after
// PostgreSQL comes back succeeds; while it is down, requests fail fast with
// DbError (connection refused is immediate). A server that accepts but never
// answers (frozen, overloaded) costs at most connect_timeout (2 s) to
// connect and the query timeout per statement, enforced here on the client
// side: libpq's blocking calls have no read timeout of their own.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vigil::services {

class DbError : public std::runtime_error {
public:
    DbError(const std::string& message, std::string sqlstate)
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
    // Five-character SQLSTATE of a server-reported error ("23505" = unique
    // violation); empty when the server could not be reached.
    const std::string& sqlstate() const { return sqlstate_; }

private:
    std::string sqlstate_;
};

struct PgResultFree {
    void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultFree>;

using PgParams = std::vector<std::optional<std::string>>;  // text format; nullopt = SQL NULL

class PgConn {
public:
    PgConn(PGconn* conn, std::chrono::milliseconds timeout) : conn_(conn), timeout_(timeout) {}
    ~PgConn() { PQfinish(conn_); }
    PgConn(const PgConn&) = delete;
    PgConn& operator=(const PgConn&) = delete;

    // Runs one statement; returns its result when it succeeded, throws
    // DbError (with the SQLSTATE) when it did not, or did not finish in
    // time — then the connection counts as broken and is not reused.
    PgResult exec(const char* sql, const PgParams& params = {});
    bool broken() const { return timed_out_ || PQstatus(conn_) != CONNECTION_OK; }
    bool timed_out() const { return timed_out_; }
    PGconn* native() { return conn_; }

private:
    PgResult wait_result();

    PGconn* conn_;
    std::chrono::milliseconds timeout_;
    bool timed_out_ = false;
};

class PgPool {
public:
    // `conninfo` is DATABASE_URL: a libpq URI or key=value string. Defaults
    // it may override: connect_timeout=2, statement_timeout=5s.
    // `prepare` runs once per process on the first connection that works
    // (schema creation); until it has succeeded, it is retried on each use.
    // `query_timeout` bounds each statement, waiting included.
    PgPool(std::string conninfo, std::size_t max_idle, std::function<void(PgConn&)> prepare,
           std::chrono::milliseconds query_timeout = std::chrono::milliseconds(3000));

    // Runs fn(conn) on a healthy connection and returns what it returns.
    // Throws DbError when the database is unreachable or the statement
    // failed; a statement that failed because a reused connection had died
    // is retried once on a new connection.
    template <class F>
    auto run(F&& fn) -> decltype(fn(std::declval<PgConn&>())) {
        for (int attempt = 0;; ++attempt) {
            bool reused = false;
            auto conn = acquire(reused);
            try {
                auto result = fn(*conn);
                release(std::move(conn));
                return result;
            } catch (const DbError&) {
                const bool lost = conn->broken();
                // A connection that died is worth one retry; a server that
                // did not answer in time would only make the caller wait twice.
                const bool retry = lost && reused && attempt == 0 && !conn->timed_out();
                release(std::move(conn));
                if (lost) {
                    // The server restarted: every idle connection is as dead
                    // as this one.
                    note_down("connection lost");
                    drop_idle();
                }
                if (!retry) throw;
            }
        }
    }

private:
    std::unique_ptr<PgConn> acquire(bool& reused);
    std::unique_ptr<PgConn> connect();
    void release(std::unique_ptr<PgConn> conn);
    void drop_idle();
    void note_down(const std::string& why);
    void note_up();

    std::string conninfo_;
    std::size_t max_idle_;
    std::function<void(PgConn&)> prepare_;
    std::chrono::milliseconds query_timeout_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<PgConn>> idle_;
    std::mutex prepare_mutex_;
    std::atomic<bool> prepared_{false};
    std::atomic<int> state_{0};  // 0 unknown, 1 up, 2 down: only transitions are logged
};

// Convenience readers for text-format results.
std::string pg_value(const PgResult& r, int row, int col);
bool pg_is_null(const PgResult& r, int row, int col);

}  // namespace vigil::services
