// What `vigilctl restore` checks before it reports success, beyond RUNNING
// and healthy: PostgreSQL answers a health check (pg_isready's meaning, see
// supervisor/core/pg_handshake.hpp) even when the role or the database the
// program uses is not in the restored data — a backup of another program.
// The check's detail then carries the server's refusal (SQLSTATE 28000, no
// such role; 3D000, no such database), and that is a failed restore.
#pragma once

#include <optional>
#include <string>

#include "supervisor/ctl/client.hpp"

namespace vigil::ctl {

// Why NAME's own role or database is not served (the health check's
// detail), or nullopt when its latest check shows nothing of the kind (or it
// has no check). `error` is set when vigild could not be asked.
std::optional<std::string> own_data_missing(const Client& client, const std::string& name, std::string& error);

}  // namespace vigil::ctl
