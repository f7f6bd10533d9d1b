#include "pg.hpp"

#include <poll.h>

#include <cerrno>

#include "log.hpp"

namespace vigil::services {
namespace {

std::string first_line(const char* message) {
    std::string text = message ? message : "";
    auto end = text.find('\n');
    return end == std::string::npos ? text : text.substr(0, end);
}

}  // namespace

PgResult PgConn::exec(const char* sql, const PgParams& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    if (timed_out_ || !PQsendQueryParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                                         nullptr, 0)) {
        throw DbError(first_line(PQerrorMessage(conn_)), "");
    }
    PgResult result = wait_result();
    auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    throw DbError(first_line(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn_)),
                  state ? state : "");
}

// Collects the statement's result, waiting on the socket with a deadline.
PgResult PgConn::wait_result() {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    PgResult first;
    while (true) {
        while (PQisBusy(conn_)) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd pfd{PQsocket(conn_), POLLIN, 0};
            int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
            if (ready < 0 && errno == EINTR) continue;
            if (ready == 0) {
                timed_out_ = true;
                throw DbError("no answer from the database within " + std::to_string(timeout_.count()) + " ms", "");
            }
            if (ready < 0 || !PQconsumeInput(conn_)) throw DbError(first_line(PQerrorMessage(conn_)), "");
        }
        PGresult* r = PQgetResult(conn_);
        if (!r) return first;
        if (!first) {
            first.reset(r);
        } else {
            PQclear(r);
        }
        if (PQstatus(conn_) == CONNECTION_BAD) return first;
    }
}

PgPool::PgPool(std::string conninfo, std::size_t max_idle, std::function<void(PgConn&)> prepare,
               std::chrono::milliseconds query_timeout)
    : conninfo_(std::move(conninfo)), max_idle_(max_idle), prepare_(std::move(prepare)), query_timeout_(query_timeout) {}

std::unique_ptr<PgConn> PgPool::connect() {
    // Defaults first: a later keyword, including those expanded from
    // DATABASE_URL, overrides an earlier one.
    const char* keys[] = {"connect_timeout", "options", "application_name", "dbname", nullptr};
    const char* values[] = {"2", "-c statement_timeout=5000", "vigil-service", conninfo_.c_str(), nullptr};
    auto conn = std::make_unique<PgConn>(PQconnectdbParams(keys, values, 1), query_timeout_);
    if (!conn->native()) throw DbError("out of memory creating a PostgreSQL connection", "");
    if (conn->broken()) {
        std::string why = first_line(PQerrorMessage(conn->native()));
        note_down(why);
        throw DbError("database unavailable: " + why, "");
    }
    // CREATE … IF NOT EXISTS notices are expected; keep them off stderr.
    PQsetNoticeProcessor(conn->native(), [](void*, const char*) {}, nullptr);
    if (!prepared_.load()) {
        std::lock_guard lock(prepare_mutex_);
        if (!prepared_.load()) {
            if (prepare_) prepare_(*conn);
            prepared_ = true;
        }
    }
    note_up();
    return conn;
}

std::unique_ptr<PgConn> PgPool::acquire(bool& reused) {
    {
        std::lock_guard lock(mutex_);
        if (!idle_.empty()) {
            auto conn = std::move(idle_.back());
            idle_.pop_back();
            reused = true;
            return conn;
        }
    }
    reused = false;
    return connect();
}

void PgPool::release(std::unique_ptr<PgConn> conn) {
    if (conn->broken()) return;
    // A handler that threw inside BEGIN … COMMIT leaves the transaction
    // open or aborted; the next user must start clean.
    if (PQtransactionStatus(conn->native()) != PQTRANS_IDLE) {
        try {
            conn->exec("ROLLBACK");
        } catch (const DbError&) {
            return;
        }
        if (conn->broken() || PQtransactionStatus(conn->native()) != PQTRANS_IDLE) return;
    }
    std::lock_guard lock(mutex_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(conn));
}

void PgPool::drop_idle() {
    std::vector<std::unique_ptr<PgConn>> dead;
    std::lock_guard lock(mutex_);
    dead.swap(idle_);
}

void PgPool::note_down(const std::string& why) {
    if (state_.exchange(2) != 2) service_log().warn("database unavailable: {}", why);
}

void PgPool::note_up() {
    if (state_.exchange(1) != 1) service_log().info("database connected");
}

std::string pg_value(const PgResult& r, int row, int col) {
    return std::string(PQgetvalue(r.get(), row, col), static_cast<std::size_t>(PQgetlength(r.get(), row, col)));
}

bool pg_is_null(const PgResult& r, int row, int col) { return PQgetisnull(r.get(), row, col) != 0; }

}  // namespace vigil::services
