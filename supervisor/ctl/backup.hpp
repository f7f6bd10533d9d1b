// `vigilctl backup NAME DIR` and `vigilctl restore NAME DIR` for programs of
// kind = postgres and kind = redis, done by vigilctl itself: it learns where
// the program keeps its data from GET /v1/programs/NAME, takes the backup
// from the live server (pg_basebackup; BGSAVE), and restores by stopping
// the program through vigild, moving the current data aside (kept), putting
// the backup in place and starting it again until healthy. docs/services.md.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "supervisor/ctl/client.hpp"

namespace vigil::ctl {

// `verb` is "backup" or "restore"; `args` what follows it. Returns the
// documented exit code (0 ok, 1 failed, 2 usage/unknown name/wrong kind, 4 unreachable).
int backup_restore(const Client& client, const std::string& verb, const std::vector<std::string>& args,
                   std::ostream& out, std::ostream& err);

}  // namespace vigil::ctl
