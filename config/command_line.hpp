// Splits a `command =` value into argv the way supervisord does (POSIX
// shlex): blanks separate words, '…' is literal, "…" allows \" \\ \$ \`,
// a backslash outside quotes escapes the next character. No shell runs, so
// no globbing or variables: a program that wants a shell says `sh -c '…'`.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::config {

struct SplitResult {
    std::vector<std::string> argv;
    std::string error;  // set when the line cannot be split (unterminated quote)
};

SplitResult split_command(std::string_view line);

}  // namespace vigil::config
