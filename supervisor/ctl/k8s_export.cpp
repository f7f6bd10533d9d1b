#include "supervisor/ctl/k8s_export.hpp"

#include <fstream>
#include <sstream>

#include "config/loader.hpp"
#include "supervisor/ctl/commands.hpp"
#include "supervisor/ctl/k8s_manifest.hpp"

namespace vigil::ctl {
namespace {

constexpr const char* kDefaultConfig = "/etc/vigil/vigil.ini";  // vigild's
constexpr const char* kExportUsage = "usage: vigilctl export kubernetes [-c FILE] [--namespace NS] [--image-map FILE]\n";

bool valid_namespace(const std::string& ns) {
    return !ns.empty() && ns.size() <= 63 && ns == k8s::dns_label(ns);
}

}  // namespace

int run_export(const std::string& config_file, const std::vector<std::string>& args, std::ostream& out,
               std::ostream& err) {
    std::string file = config_file.empty() ? kDefaultConfig : config_file;
    std::string image_map_file;
    k8s::ExportOptions options;
    if (args.empty() || args[0] != "kubernetes") {
        err << "vigilctl: export knows one target, kubernetes\n" << kExportUsage;
        return kUsage;
    }
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        const bool has_value = i + 1 < args.size();
        if (a == "-h" || a == "--help") {
            out << kExportUsage;
            return kOk;
        }
        if ((a == "-c" || a == "--config") && has_value) file = args[++i];
        else if (a == "--namespace" && has_value) options.namespace_name = args[++i];
        else if (a == "--image-map" && has_value) image_map_file = args[++i];
        else {
            err << "vigilctl: export kubernetes: unexpected '" << a << "'\n" << kExportUsage;
            return kUsage;
        }
    }
    if (!options.namespace_name.empty() && !valid_namespace(options.namespace_name)) {
        err << "vigilctl: --namespace '" << options.namespace_name
            << "' is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)\n";
        return kUsage;
    }
    if (!image_map_file.empty()) {
        std::ifstream in(image_map_file);
        if (!in) {
            err << "vigilctl: cannot read " << image_map_file << "\n";
            return kFailed;
        }
        std::stringstream text;
        text << in.rdbuf();
        auto map = k8s::parse_image_map(text.str(), image_map_file);
        if (!map.errors.empty()) {
            err << "vigilctl: " << image_map_file << " has errors; nothing exported:\n";
            for (const auto& e : map.errors) err << "  " << e << "\n";
            return kFailed;
        }
        options.images = std::move(map.images);
    }
    // The loader vigild --check uses, without its host checks: users,
    // commands and directories are the old machine's, not the cluster's.
    config::LoadOptions load;
    load.env = config::environment_map();
    const auto loaded = config::load_file(file, load);
    if (!loaded.ok()) {
        err << "vigilctl: " << file << " has errors; nothing exported:\n";
        for (const auto& e : loaded.errors) err << "  " << e.to_string() << "\n";
        return kFailed;
    }
    const auto manifest = k8s::build_manifest(*loaded.config, options);
    out << k8s::to_yaml(manifest, file);
    out.flush();
    return out ? kOk : kFailed;
}

}  // namespace vigil::ctl
