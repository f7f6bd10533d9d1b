// The data directory of a `kind = postgres` or `redis` program, made by
// vigild (root) for the program's user before the spawn, as systemd's
// StateDirectory= does: missing parents owned by root, mode 0755, the
// directory itself owned by the user, mode 0700. Without it the program's
// own `install -d` fails in a parent its user may not write, with a
// misleading "cannot change permissions … No such file or directory".
#pragma once

#include <sys/types.h>

#include <string>

namespace vigil::supervisor {

// Empty on success, or why not. An existing directory is left as it is:
// the kind's own owner check reports one that belongs to someone else.
std::string make_data_dir(const std::string& path, uid_t uid, gid_t gid);

}  // namespace vigil::supervisor
