#include "supervisor/ctl/restore_check.hpp"

#include <nlohmann/json.hpp>

#include "supervisor/control_protocol.hpp"

namespace vigil::ctl {

std::optional<std::string> own_data_missing(const Client& client, const std::string& name, std::string& error) {
    using json = nlohmann::json;
    namespace field = control::field;
    auto r = client.call("GET", control::route::program(path_segment(name), control::route::health), "", error);
    if (!r || r->status != 200) return std::nullopt;
    const json j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains(field::results) || !j[field::results].is_array() || j[field::results].empty())
        return std::nullopt;
    const std::string detail = j[field::results].back().value(field::detail, "");
    // "accepting connections (FATAL:  28000: role "x" does not exist)"; an
    // authentication request ("password required") means the role is there.
    for (const char* code : {" 28000: ", " 3D000: "})
        if (detail.find(code) != std::string::npos) return detail;
    return std::nullopt;
}

}  // namespace vigil::ctl
