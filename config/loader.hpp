// INI files → a validated Config, or every error found, each as
// `file:line: message`. Nothing is half-applied: a caller either gets a whole
// Config or a list of errors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"

namespace vigil::config {

struct Error {
    SourceLoc loc;
    std::string message;
    std::string to_string() const;  // "file:line: message" (no ":line" when line == 0)
};

struct LoadOptions {
    // Source of %(ENV_X)s; the loader never reads the process environment
    // itself, so tests and fuzzing are deterministic.
    std::map<std::string, std::string> env;
    // %(host_node_name)s
    std::string host_node_name = "localhost";
    // false: an [include] section is an error instead of a file read (fuzzing,
    // configs that must be self-contained).
    bool follow_includes = true;
    // Also check what only this machine can say (config/host_checks.hpp):
    // users, groups, commands, directories. Off by default, so a config
    // loads the same anywhere; `vigild --check` and live reloads turn it on.
    bool host_checks = false;
};

struct LoadResult {
    std::optional<Config> config;  // set only when errors is empty
    std::vector<Error> errors;
    // Accepted but worth saying: a key with no effect in vigil, a key set
    // twice, and in a supervisord config what supervisord ignores (unknown
    // keys and sections). Reported by vigild --check, at start and on reload.
    std::vector<Error> warnings;
    bool supervisord = false;  // read as a supervisord config (docs/config.md)
    // [vigil] as far as it could be read, set even when `errors` is not
    // empty: vigilctl must find vigild's socket in a file that is mid-edit.
    // Defaults when the file cannot be read at all.
    Daemon daemon;
    bool ok() const { return config.has_value(); }
};

LoadResult load_file(const std::string& path, const LoadOptions& options);

// Parses `text` as if it were the file `name` (used for errors and %(here)s;
// [include] globs resolve relative to its directory).
LoadResult load_string(std::string_view text, const std::string& name, const LoadOptions& options);

// The process environment as a LoadOptions::env map.
std::map<std::string, std::string> environment_map();

}  // namespace vigil::config
