// `vigilctl export kubernetes`: a loaded vigil Config → Kubernetes objects
// (docs/kubernetes.md has the mapping table). Pure: no files, no machine
// look-ups, so the same config always gives the same objects; yaml_writer
// prints them.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "supervisor/ctl/yaml_node.hpp"

namespace vigil::k8s {

struct ExportOptions {
    std::string namespace_name;  // empty: no metadata.namespace (kubectl's current one)
    // From --image-map: a group, program or process name → an image.
    std::map<std::string, std::string> images;
};

struct Object {
    std::vector<std::string> comments;  // printed above the object
    yaml::Node body;
    std::string kind() const;
    std::string name() const;
};

struct Manifest {
    // What the config says that these objects cannot: printed at the top.
    std::vector<std::string> not_expressible;
    std::vector<Object> objects;
    int count(std::string_view kind) const;
};

Manifest build_manifest(const config::Config& config, const ExportOptions& options);

// The whole YAML stream: notes at the top, then one document per object.
std::string to_yaml(const Manifest& m, std::string_view source);

// A vigil name as a Kubernetes DNS-1035 label: lower case, '_' '.' '@' → '-',
// starting with a letter, at most 63 characters.
std::string dns_label(std::string_view name);

// "512Mi" for whole mebibytes, else bytes; "1" / "500m" for CPUs.
std::string k8s_memory(std::uint64_t bytes);
std::string k8s_cpu(double cores);

// The --image-map file: `NAME = IMAGE` lines, '#' or ';' comments. Errors
// are "file:line: message".
struct ImageMap {
    std::map<std::string, std::string> images;
    std::vector<std::string> errors;
};
ImageMap parse_image_map(std::string_view text, const std::string& file);

// The image-map key of the init containers' image (':' is in no vigil name).
inline constexpr std::string_view kWaitImageKey = ":wait";
inline constexpr std::string_view kDefaultWaitImage = "busybox:1.36";

}  // namespace vigil::k8s
