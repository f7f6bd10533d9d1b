#include "proxy/rewrite.hpp"

namespace vigil::proxy {

void build_request_head(std::string& o, const RequestHead& req, std::string_view client_ip, bool tls,
                        std::string_view request_id) {
    o.clear();
    o.append(req.method).append(" ").append(req.target);
    o.append(req.version_minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
    for (std::size_t i = 0; i < req.header_count; ++i) {
        const Header& h = req.headers[i];
        bool skip = false;
        switch (h.name.size()) {  // by length first: most fields compare nothing
            case 2: skip = iequals(h.name, "te"); break;
            case 6: skip = iequals(h.name, "expect"); break;
            case 7: skip = iequals(h.name, "upgrade"); break;
            case 9: skip = iequals(h.name, "x-real-ip") || iequals(h.name, "forwarded"); break;
            case 10: skip = iequals(h.name, "connection") || iequals(h.name, "keep-alive"); break;
            case 12: skip = iequals(h.name, "x-request-id"); break;
            case 15: skip = iequals(h.name, "x-forwarded-for"); break;
            case 16: skip = iequals(h.name, "proxy-connection"); break;
            case 17: skip = iequals(h.name, "x-forwarded-proto"); break;
            default: break;
        }
        if (!skip && !req.connection.empty() && has_token(req.connection, h.name)) skip = true;
        if (skip) continue;
        o.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    o.append("X-Forwarded-For: ");
    if (!req.forwarded_for.empty()) o.append(req.forwarded_for).append(", ");
    o.append(client_ip).append(tls ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n");
    o.append("X-Real-IP: ").append(client_ip).append("\r\n");
    // RFC 7239: the client's own elements first (it may be a proxy too),
    // then ours; an IPv6 address is quoted and bracketed.
    o.append("Forwarded: ");
    if (!req.forwarded.empty()) o.append(req.forwarded).append(", ");
    const bool v6 = client_ip.find(':') != std::string_view::npos;
    o.append(v6 ? "for=\"[" : "for=").append(client_ip).append(v6 ? "]\"" : "");
    o.append(tls ? ";proto=https\r\n" : ";proto=http\r\n");
    o.append("X-Request-Id: ").append(request_id).append("\r\n");
    // HTTP/1.0 clients get a 1.0 upstream exchange (no chunked replies they
    // cannot read), on a connection that is not pooled.
    if (req.version_minor == 0) o.append("Connection: close\r\n");
    o.append("\r\n");
}

bool safe_request_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=';
        if (!ok) return false;
    }
    return true;
}

void build_response_head(std::string& o, const ResponseHead& resp, std::string_view head, bool keep_client,
                         bool client_http10) {
    o.clear();
    const std::string_view status_line = head.substr(9, head.find("\r\n") - 9);  // after "HTTP/1.x "
    o.append("HTTP/1.1 ").append(status_line).append("\r\n");
    for (std::size_t i = 0; i < resp.header_count; ++i) {
        const Header& h = resp.headers[i];
        if ((h.name.size() == 10 && (iequals(h.name, "connection") || iequals(h.name, "keep-alive"))) ||
            (h.name.size() == 16 && iequals(h.name, "proxy-connection")))
            continue;
        o.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!keep_client) o.append("Connection: close\r\n");
    else if (client_http10) o.append("Connection: keep-alive\r\n");
    o.append("\r\n");
}

}  // namespace vigil::proxy
