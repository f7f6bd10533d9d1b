#include "proxy/rewrite.hpp"

#include <cstring>

namespace vigil::proxy {
namespace {

// Writes into a string already sized for everything written (the callers'
// bounds); no check per piece.
struct Cursor {
    char* p;
    Cursor& operator<<(std::string_view s) noexcept {
        std::memcpy(p, s.data(), s.size());
        p += s.size();
        return *this;
    }
};

}  // namespace

void build_request_head(std::string& o, const RequestHead& req, std::string_view client_ip, bool tls,
                        std::string_view request_id) {
    // Sized once, then every piece copied through a cursor: appending piece by
    // piece cost a capacity check and a length update for each of ~40 pieces.
    // `fixed` covers the constant text below (about 150 bytes).
    constexpr std::size_t fixed = 256;
    std::size_t bound = fixed + req.method.size() + req.target.size() + req.forwarded_for.size() +
                        req.forwarded.size() + 3 * client_ip.size() + request_id.size();
    for (std::size_t i = 0; i < req.header_count; ++i)
        bound += req.headers[i].name.size() + req.headers[i].value.size() + 4;
    o.resize(bound);
    Cursor c{o.data()};
    c << req.method << " " << req.target << (req.version_minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
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
        c << h.name << ": " << h.value << "\r\n";
    }
    c << "X-Forwarded-For: ";
    if (!req.forwarded_for.empty()) c << req.forwarded_for << ", ";
    c << client_ip << (tls ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n");
    c << "X-Real-IP: " << client_ip << "\r\n";
    // RFC 7239: the client's own elements first (it may be a proxy too),
    // then ours; an IPv6 address is quoted and bracketed.
    c << "Forwarded: ";
    if (!req.forwarded.empty()) c << req.forwarded << ", ";
    const bool v6 = client_ip.find(':') != std::string_view::npos;
    c << (v6 ? "for=\"[" : "for=") << client_ip << (v6 ? "]\"" : "");
    c << (tls ? ";proto=https\r\n" : ";proto=http\r\n");
    c << "X-Request-Id: " << request_id << "\r\n";
    // HTTP/1.0 clients get a 1.0 upstream exchange (no chunked replies they
    // cannot read), on a connection that is not pooled.
    if (req.version_minor == 0) c << "Connection: close\r\n";
    c << "\r\n";
    o.resize(static_cast<std::size_t>(c.p - o.data()));
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
    const std::string_view status_line = head.substr(9, head.find("\r\n") - 9);  // after "HTTP/1.x "
    constexpr std::size_t fixed = 64;  // "HTTP/1.1 ", CRLFs, the Connection field
    std::size_t bound = fixed + status_line.size();
    for (std::size_t i = 0; i < resp.header_count; ++i)
        bound += resp.headers[i].name.size() + resp.headers[i].value.size() + 4;
    o.resize(bound);
    Cursor c{o.data()};
    c << "HTTP/1.1 " << status_line << "\r\n";
    for (std::size_t i = 0; i < resp.header_count; ++i) {
        const Header& h = resp.headers[i];
        if ((h.name.size() == 10 && (iequals(h.name, "connection") || iequals(h.name, "keep-alive"))) ||
            (h.name.size() == 16 && iequals(h.name, "proxy-connection")))
            continue;
        c << h.name << ": " << h.value << "\r\n";
    }
    if (!keep_client) c << "Connection: close\r\n";
    else if (client_http10) c << "Connection: keep-alive\r\n";
    c << "\r\n";
    o.resize(static_cast<std::size_t>(c.p - o.data()));
}

}  // namespace vigil::proxy
