// The admin API's routing and JSON, without sockets: (method, target, body)
// in, (status, body) out. admin_server.cpp carries it over a Unix socket;
// tests call it directly. Endpoints are listed in docs/proxy.md.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "proxy/registry.hpp"

namespace vigil::proxy {

struct AdminReply {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    bool changed = false;  // the registry published a new snapshot
};

AdminReply handle_admin(Registry& registry, std::string_view method, std::string_view target, std::string_view body,
                        const std::function<std::string()>& render_metrics);

}  // namespace vigil::proxy
