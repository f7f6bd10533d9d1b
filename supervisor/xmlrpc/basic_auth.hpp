// HTTP basic auth as supervisord's listeners check it: a configured
// password is plain text or "{SHA}" followed by the hex SHA-1 of the
// password.
#pragma once

#include <string_view>

#include "config/http_servers.hpp"

namespace vigil::supervisor {

// True when `authorization` (the header's value) carries the configured
// user and password. Both sides are hashed to fixed-size digests first and
// compared without an early exit, so the time taken does not tell an
// attacker how much of a guess was right.
bool basic_auth_ok(std::string_view authorization, const config::Credentials& expected);

}  // namespace vigil::supervisor
