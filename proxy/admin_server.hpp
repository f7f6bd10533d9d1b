// The admin API's transport: HTTP/1.1 (Beast) on a Unix socket, mode 0600,
// served on the main thread's io_context. Routing and JSON live in
// admin_api.hpp; this only reads requests and writes replies.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/admin_api.hpp"

namespace vigil::proxy {

class AdminServer {
public:
    using Handler = std::function<AdminReply(std::string_view method, std::string_view target, std::string_view body)>;

    AdminServer(boost::asio::io_context& io, std::string path, Handler handler);
    ~AdminServer();

    void start();  // binds (replacing a stale socket file); throws on failure
    void stop();   // closes the listener and removes the socket file

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::proxy
