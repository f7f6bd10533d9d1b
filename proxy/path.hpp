// The request path as a backend resolves it, so that a route prefix means the
// same thing to vigil-proxy and to the application behind it:
// `/auth/../payments/x` must not reach the auth pool as a path that the
// backend then serves as `/payments/x`. nginx normalizes the same way before
// matching a location:
//   - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) decoded,
//     hex digits of what stays encoded upper-cased; an encoded slash (%2F)
//     or any other reserved byte stays encoded, never a separator;
//   - repeated slashes merged; "." and ".." segments resolved;
//   - ".." above the root, or a bad percent-escape: the request is refused.
// The query is kept as sent. The upstream receives the normalized target.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/percent.hpp"

namespace vigil::proxy {

enum class PathResult : std::uint8_t { same, changed, bad };

// `target` is an origin-form request target (or "*"). On `changed`, `out`
// holds the normalized target; on `same` it is left alone (the common case
// costs one scan and no copy).
PathResult normalize_target(std::string_view target, std::string& out);

using vigil::percent_value;  // common/percent.hpp

}  // namespace vigil::proxy
