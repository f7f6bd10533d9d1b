// Who may do what on vigild's control socket and [inet_http_server]: the
// level a connection gets when it is accepted (SO_PEERCRED on the Unix
// socket, the basic-auth user on TCP), and the routes and XML-RPC methods
// each level may use. Pure: decided from names, no I/O.
#pragma once

#include <string>
#include <string_view>

namespace vigil::supervisor {

struct Access {
    // none: refused (403); read: status, health, upstreams, metrics, events;
    // write: everything.
    enum class Level { none, read, write } level = Level::write;
    bool logs = true;  // program output (log routes, XML-RPC log reads)

    static Access full() { return {}; }
    static Access denied() { return {Level::none, false}; }
    static Access read_only(bool logs) { return {Level::read, logs}; }
    std::string_view name() const { return level == Level::write ? "write" : level == Level::read ? "read" : "none"; }
};

// An HTTP request to the control API at `path`, percent-decoded and without
// empty segments ("/v1/programs/x/log"): "" when `a` allows it, else why
// not (the 403's message).
std::string refused_route(const Access& a, std::string_view method, std::string_view path);

// An XML-RPC method name: "" when `a` allows it, else why not.
std::string refused_method(const Access& a, std::string_view method);

// [inet_http_server] without credentials answers only requests whose Host
// header names it by address or as localhost: a web page that points a name
// of its own at 127.0.0.1 (DNS rebinding) is then same-origin with vigild in
// the browser, and could read the page's token and act. No such page can
// make the browser send an IP address or localhost as Host. An absent Host
// (HTTP/1.0 tools) is not a browser's request and passes.
bool host_safe_without_auth(std::string_view host_header);

}  // namespace vigil::supervisor
