// Request bodies are parsed without exceptions: anything that is not a JSON
// object is a 400, never a throw out of a handler.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace vigil::services {

inline std::optional<nlohmann::json> parse_json_object(const std::string& body) {
    auto value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded() || !value.is_object()) return std::nullopt;
    return value;
}

// The string member `key`, if present and a string.
inline std::optional<std::string> string_member(const nlohmann::json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

// Response bodies keep their members in the order written (the seed's
// health body reads status, timestamp, service, database).
using ResponseJson = nlohmann::ordered_json;

// Serialises a response body; invalid UTF-8 in stored data cannot throw.
template <class Json>
std::string dump(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace vigil::services
