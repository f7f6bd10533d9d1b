// vigild's web status page: the page itself (built into the binary from
// supervisor/web/*.html|css|js, see embed.cmake), the recent events it shows
// at load, and the rule that keeps other sites from acting through a
// browser that holds the page's credentials (CSRF).
//
// The CSRF rule, applied to every request before any route: a request that
// may change something (any method but GET and HEAD) and that a browser made
// from a page — it carries `Origin`, or `Sec-Fetch-Site` other than
// same-origin/none — must carry this vigild's token in `X-Vigil-Token`, else
// 403. The token is random per vigild start and is only in the page at `/`,
// which other sites cannot read (no CORS headers, frame-ancestors 'none').
// vigilctl, supervisorctl, curl and scripts send neither header and are not
// affected; no cookie is ever set.
#pragma once

#include <deque>
#include <optional>
#include <string>

#include "supervisor/control_api.hpp"

namespace vigil::supervisor::web {

class WebPage {
public:
    explicit WebPage(Supervisor& sup);
    ~WebPage();
    WebPage(const WebPage&) = delete;
    WebPage& operator=(const WebPage&) = delete;

    // GET /, /ui/app.js, /ui/app.css and /v1/events/recent; false: not ours.
    bool route(const ApiRequest& req, const std::string& path, ControlApi::Reply& reply) const;
    // A 403 for a browser's cross-site (or token-less) request that may act.
    std::optional<ApiResponse> refuse_cross_site(const ApiRequest& req) const;
    const std::string& token() const { return token_; }

    // Events kept for a page that has just loaded (GET /v1/events/recent).
    static constexpr std::size_t kRecentEvents = 30;

private:
    void remember(std::string line);

    Supervisor& sup_;
    std::string token_;
    std::deque<std::string> recent_;
    std::uint64_t observer_ = 0, health_observer_ = 0, note_observer_ = 0;
};

}  // namespace vigil::supervisor::web
