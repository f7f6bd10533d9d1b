#include "supervisor/replication/pg_sql.hpp"

#include <libpq-fe.h>

namespace vigil::supervisor::replication {
namespace {

std::string quote_conninfo(const std::string& v) {
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

std::string trimmed_error(PGconn* c) {
    std::string e = PQerrorMessage(c);
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    return e;
}

}  // namespace

std::string standby_name_literal(const std::string& name) {
    std::string out = "'\"";
    for (char c : name) {
        if (c == '"') out += "\"\"";
        else if (c == '\'') out += "''";
        else out += c;
    }
    return out + "\"'";
}

std::string pg_exec(const PgTarget& t, const std::vector<std::string>& statements, Rows* rows, int timeout_s) {
    const std::string conninfo = "hostaddr=" + quote_conninfo(t.host) + " port=" + std::to_string(t.port) +
                                 " user=" + quote_conninfo(t.user) +
                                 " dbname=postgres connect_timeout=2 application_name=vigild options='-c statement_timeout=" +
                                 std::to_string(timeout_s * 1000) + "'";
    PGconn* c = PQconnectdb(conninfo.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
        std::string e = trimmed_error(c);
        PQfinish(c);
        return e.empty() ? "cannot connect" : e;
    }
    std::string error;
    for (const auto& sql : statements) {
        PGresult* r = PQexec(c, sql.c_str());
        const auto st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            error = PQresultErrorMessage(r);
            while (!error.empty() && error.back() == '\n') error.pop_back();
            if (error.empty()) error = trimmed_error(c);
            PQclear(r);
            break;
        }
        if (rows && &sql == &statements.back()) {
            rows->clear();
            for (int i = 0; i < PQntuples(r); ++i) {
                std::vector<std::string> row;
                for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetisnull(r, i, j) ? "" : PQgetvalue(r, i, j));
                rows->push_back(std::move(row));
            }
        }
        PQclear(r);
    }
    PQfinish(c);
    return error;
}

SqlWorker::SqlWorker() : thread_([this] { run(); }) {}

SqlWorker::~SqlWorker() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        jobs_.clear();
    }
    cv_.notify_one();
    thread_.join();
}

void SqlWorker::post(std::function<void()> job) {
    {
        std::lock_guard lock(mu_);
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
}

void SqlWorker::run() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (stop_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

}  // namespace vigil::supervisor::replication
