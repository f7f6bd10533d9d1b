// One way to write a duration in logs and messages: "5s" when it is a whole
// number of seconds, "1500ms" otherwise.
#pragma once

#include <chrono>
#include <string>

namespace vigil::core {

std::string duration_text(std::chrono::milliseconds d);

}  // namespace vigil::core
