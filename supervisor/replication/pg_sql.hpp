// SQL to a replicated pair's PostgreSQL servers for the replication manager:
// the simple query protocol (core/pg_query.hpp) on a blocking socket with
// timeouts (blocking_socket.hpp), run on a worker thread (worker.hpp) so a
// server that hangs never stalls vigild's event loop.
#pragma once

#include <string>
#include <vector>

#include "supervisor/replication/blocking_socket.hpp"

namespace vigil::supervisor::replication {

using Rows = std::vector<std::vector<std::string>>;

// Runs each statement in turn (each its own implicit transaction: ALTER
// SYSTEM refuses a transaction block). "" on success, else the error; the
// last statement's rows in `rows`. A connection attempt gives up after 2 s,
// a statement after `timeout_s`.
std::string pg_exec(const Target& t, const std::vector<std::string>& statements, Rows* rows = nullptr,
                    int timeout_s = 10);

// A double-quoted identifier for synchronous_standby_names, inside a SQL literal.
std::string standby_name_literal(const std::string& name);

}  // namespace vigil::supervisor::replication
