// vigild's /metrics in the Prometheus text exposition format (0.0.4): every
// series is vigil_*, each family with its # HELP and # TYPE lines.
#pragma once

#include <string>

#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {

std::string render_metrics(const Supervisor& sup);

// Label values escape backslash, double quote and newline.
std::string escape_label(const std::string& value);

}  // namespace vigil::supervisor
