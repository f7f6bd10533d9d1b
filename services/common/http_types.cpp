#include "http_types.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace vigil::services {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) return std::string_view(value);
    }
    return std::nullopt;
}

Response Response::json(int status, std::string body) {
    Response res;
    res.status = status;
    res.body = std::move(body);
    return res;
}

Response Response::error(int status, std::string_view message) {
    // dump() with replace: a message quoting bad input must still be valid JSON.
    nlohmann::json body = {{"error", std::string(message)}};
    return json(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::optional<std::string> bearer_token(const Request& req) {
    auto value = req.header("authorization");
    if (!value) return std::nullopt;
    constexpr std::string_view scheme = "bearer ";
    if (value->size() <= scheme.size() || !iequals(value->substr(0, scheme.size()), scheme)) return std::nullopt;
    auto token = value->substr(scheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token.empty()) return std::nullopt;
    return std::string(token);
}

}  // namespace vigil::services
