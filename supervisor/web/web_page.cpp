#include "supervisor/web/web_page.hpp"

#include <sys/random.h>

#include <stdexcept>

#include "supervisor/control_protocol.hpp"
#include "supervisor/web/web_assets.hpp"

namespace vigil::supervisor::web {
namespace {

std::string random_token() {
    unsigned char bytes[24];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error("getrandom failed: cannot make the web page's token");
        got += static_cast<std::size_t>(n);
    }
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

// Equal length is public (always 48); the bytes are compared without an
// early exit, so the time taken says nothing about how much matched.
bool same_token(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

// The page's resources: never framed by another site (clickjacking would
// let it press our buttons with the token inside), scripts and requests
// only from vigild itself.
ApiResponse asset(std::string body, const char* type) {
    ApiResponse r;
    r.content_type = type;
    r.body = std::move(body);
    r.headers = {{"Cache-Control", "no-cache"},
                 {"X-Content-Type-Options", "nosniff"},
                 {"X-Frame-Options", "DENY"},
                 {"Referrer-Policy", "no-referrer"},
                 {"Content-Security-Policy",
                  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
                  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}};
    return r;
}

}  // namespace

WebPage::WebPage(Supervisor& sup) : sup_(sup), token_(random_token()) {
    observer_ = sup_.subscribe([this](const ProcessRunner& pr, const core::Decision& d) { remember(event_line(pr, d)); });
    health_observer_ = sup_.subscribe_health(
        [this](const ProcessRunner& pr, core::HealthStatus from, core::HealthStatus to, const std::string& detail) {
            if (from != to) remember(health_event_line(pr, from, to, detail));
        });
    note_observer_ = sup_.subscribe_notes(
        [this](const std::string& name, const std::string& topic, const std::string& text, bool warning) {
            remember(note_event_line(name, topic, text, warning));
        });
}

WebPage::~WebPage() {
    sup_.unsubscribe(observer_);
    sup_.unsubscribe(health_observer_);
    sup_.unsubscribe(note_observer_);
}

void WebPage::remember(std::string line) {
    while (!line.empty() && line.back() == '\n') line.pop_back();
    recent_.push_back(std::move(line));
    if (recent_.size() > kRecentEvents) recent_.pop_front();
}

bool WebPage::route(const ApiRequest& req, const std::string& path, ControlApi::Reply& reply) const {
    if (req.method != "GET") return false;
    if (path == "/" || path == "/index.html") {
        std::string page(assets::index_html);
        const std::size_t at = page.find("@VIGIL_TOKEN@");
        if (at != std::string::npos) page.replace(at, 13, token_);
        reply(asset(std::move(page), "text/html; charset=utf-8"));
        return true;
    }
    if (path == "/ui/app.js") {
        reply(asset(std::string(assets::app_js), "text/javascript; charset=utf-8"));
        return true;
    }
    if (path == "/ui/app.css") {
        reply(asset(std::string(assets::app_css), "text/css; charset=utf-8"));
        return true;
    }
    if (path == control::route::path(control::route::events, control::route::recent)) {
        ApiResponse r;
        r.body = "[";
        for (const auto& line : recent_) r.body += (r.body.size() > 1 ? ",\n" : "") + line;
        r.body += "]\n";
        reply(std::move(r));
        return true;
    }
    return false;
}

std::optional<ApiResponse> WebPage::refuse_cross_site(const ApiRequest& req) const {
    if (req.method == "GET" || req.method == "HEAD") return std::nullopt;
    const bool from_browser = req.origin || (!req.fetch_site.empty() && req.fetch_site != "same-origin" &&
                                             req.fetch_site != "none");
    if (!from_browser || same_token(req.token, token_)) return std::nullopt;
    return error_response(403, "a browser request that acts needs the X-Vigil-Token of vigild's page at /");
}

}  // namespace vigil::supervisor::web
