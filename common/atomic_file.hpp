// A file replaced whole: written under `<path>.tmp`, then renamed over
// `path`, so a reader (the next vigild, a restore) sees the old content or
// the new, never half of one. Shared by vigild's intent store and pid
// registry and by vigilctl's backups.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace vigil {

enum class Durability {
    replace_only,  // atomic against a crash of the writer, not against a power loss
    synced,        // the file and its directory fsynced too: survives a power loss
};

// "" on success, else what failed ("cannot write /x.tmp: No space left on device").
std::string write_file_atomically(const std::string& path, std::string_view text, Durability durability,
                                  mode_t mode = 0600);

}  // namespace vigil
