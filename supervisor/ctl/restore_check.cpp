#include "supervisor/ctl/restore_check.hpp"

#include <nlohmann/json.hpp>

namespace vigil::ctl {

std::optional<std::string> own_data_missing(const Client& client, const std::string& name, std::string& error) {
    using json = nlohmann::json;
    auto r = client.call("GET", "/v1/programs/" + path_segment(name) + "/health", "", error);
    if (!r || r->status != 200) return std::nullopt;
    const json j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("results") || !j["results"].is_array() || j["results"].empty()) return std::nullopt;
    const std::string detail = j["results"].back().value("detail", "");
    // "accepting connections (FATAL:  28000: role "x" does not exist)"; an
    // authentication request ("password required") means the role is there.
    for (const char* code : {" 28000: ", " 3D000: "})
        if (detail.find(code) != std::string::npos) return detail;
    return std::nullopt;
}

}  // namespace vigil::ctl
