// supervisord's %-expansion of config values: `%(name)s`, `%(name)d`, with
// Python's width, precision and flags (`%(process_num)02d`), and `%%` for a
// literal percent sign. Anything else after `%` is an error, as in
// supervisord, so `date +%s` must be written `date +%%s`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::config {

struct ExpandVars {
    std::map<std::string, std::string, std::less<>> strings;  // here, program_name, …
    std::map<std::string, long long, std::less<>> numbers;    // process_num, numprocs
    const std::map<std::string, std::string>* env = nullptr;  // %(ENV_X)s
};

// The expanded text, or nullopt with `error` set (a message without a key).
std::optional<std::string> expand(std::string_view text, const ExpandVars& vars, std::string& error);

}  // namespace vigil::config
