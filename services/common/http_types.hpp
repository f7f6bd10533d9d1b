// Plain request/response values shared by the HTTP server core and the
// service handlers. Deliberately free of Beast so that handler files compile
// in seconds and can be read without knowing Asio.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::services {

struct Request {
    std::string method;  // "GET", "POST", …
    std::string target;  // as received, query string included
    std::string path;    // target without the query string
    std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
    std::string body;

    // Case-insensitive lookup; the first occurrence wins.
    std::optional<std::string_view> header(std::string_view name) const;
};

struct Response {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;

    static Response json(int status, std::string body);
    // {"error": message} with the given status: every 4xx/5xx body has this shape.
    static Response error(int status, std::string_view message);
};

// The token in "Authorization: Bearer T", if the header has that form.
std::optional<std::string> bearer_token(const Request& req);

}  // namespace vigil::services
