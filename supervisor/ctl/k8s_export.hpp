// `vigilctl export kubernetes [-c FILE] [--namespace NS] [--image-map FILE]`:
// reads the config offline (no vigild), prints Kubernetes YAML on `out`.
// A config that does not load prints its errors and nothing on `out`.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace vigil::ctl {

// `config_file`: vigilctl's own -c (the verb's -c wins); `args` follow "export".
int run_export(const std::string& config_file, const std::vector<std::string>& args, std::ostream& out,
               std::ostream& err);

}  // namespace vigil::ctl
