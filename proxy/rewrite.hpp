// The heads vigil-proxy sends on: the request to the upstream and the
// response to the client. Pure functions over parsed heads, appending into
// reused strings (no allocation once warmed up), unit-tested without sockets.
#pragma once

#include <string>
#include <string_view>

#include "proxy/http_parse.hpp"

namespace vigil::proxy {

// Request to the upstream: same request line (HTTP/1.0 stays 1.0 and gets
// Connection: close), hop-by-hop fields dropped (Connection and the fields it
// names, Keep-Alive, Proxy-Connection, TE, Upgrade) and Expect (answered by
// the proxy), then X-Forwarded-For (the client's list, then `client_ip`),
// X-Forwarded-Proto, X-Real-IP = `client_ip` (the client's is dropped),
// Forwarded (the client's elements, then for=`client_ip`;proto=) and
// X-Request-Id = `request_id`. docs/proxy.md says which a backend can trust.
void build_request_head(std::string& out, const RequestHead& req, std::string_view client_ip, bool tls,
                        std::string_view request_id);

// A client's X-Request-Id is passed on (and logged) only when it is 1-128
// bytes of [A-Za-z0-9-_.:/+=]: anything else could forge log fields or
// headers downstream, and gets a fresh id instead.
bool safe_request_id(std::string_view id) noexcept;

// Response to the client: the upstream's status line under HTTP/1.1, its
// fields minus hop-by-hop ones, plus Connection: close when the client
// connection ends here (or keep-alive for an HTTP/1.0 client that keeps it).
// `head` is the upstream's raw head that `resp` was parsed from.
void build_response_head(std::string& out, const ResponseHead& resp, std::string_view head, bool keep_client,
                         bool client_http10);

}  // namespace vigil::proxy
