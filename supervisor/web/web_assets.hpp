// The web page's files, built into vigild: generated at build time from
// supervisor/web/index.html, app.js and app.css by embed.cmake.
#pragma once

#include <string_view>

namespace vigil::supervisor::web::assets {

extern const std::string_view index_html;
extern const std::string_view app_js;
extern const std::string_view app_css;

}  // namespace vigil::supervisor::web::assets
