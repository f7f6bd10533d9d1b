// Prints yaml::Node trees as block-style YAML. Every string scalar is
// double-quoted with escapes, so no value can turn into another type
// ("on", "0755", "1e3", "null") or break the document (": ", "#", newlines),
// whatever a config holds; keys are plain only when they are safe words.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "supervisor/ctl/yaml_node.hpp"

namespace vigil::yaml {

// "text" with YAML's escapes; invalid UTF-8 bytes become U+FFFD.
std::string quote(std::string_view s);

// One document, without the "---" line.
std::string to_yaml(const Node& root);

// "# line" for each line (a line break inside one starts a new comment line).
std::string comment_lines(const std::vector<std::string>& lines);

}  // namespace vigil::yaml
