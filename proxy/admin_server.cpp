#include "proxy/admin_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

namespace vigil::proxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct AdminServer::Impl {
    asio::io_context& io;
    std::string path;
    Handler handler;
    local::acceptor acceptor{io};
    bool bound = false;
    // The socket file this process made: in a handover the next proxy
    // replaces it while this one still runs, and must keep it.
    dev_t dev = 0;
    ino_t ino = 0;

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
                spdlog::warn("admin accept: {}", ec.message());
                continue;
            }
            asio::co_spawn(io, serve(std::move(sock)), asio::detached);
        }
    }

    asio::awaitable<void> serve(local::socket sock) {
        boost::beast::flat_buffer buf;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(16 * 1024);
            parser.body_limit(1024 * 1024);
            auto [ec, n] = co_await http::async_read(sock, buf, parser, use_tuple);
            if (ec) {
                // A malformed request gets a 400; a closed connection nothing.
                if (ec != http::error::end_of_stream && ec != asio::error::eof && ec != asio::error::connection_reset &&
                    ec != asio::error::operation_aborted) {
                    http::response<http::string_body> res{http::status::bad_request, 11};
                    res.set(http::field::content_type, "application/json");
                    res.set(http::field::connection, "close");
                    res.body() = "{\"error\":\"malformed request: " + ec.message() + "\"}\n";
                    res.prepare_payload();
                    co_await http::async_write(sock, res, use_tuple);
                }
                co_return;
            }
            const auto& req = parser.get();
            AdminReply r;
            try {
                r = handler(req.method_string(), req.target(), req.body());
            } catch (const std::exception& e) {
                r = {500, std::string("{\"error\":\"") + "internal error" + "\"}\n"};
                spdlog::error("admin {} {}: {}", std::string(req.method_string()), std::string(req.target()), e.what());
            }
            http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
            res.set(http::field::content_type, r.content_type);
            res.keep_alive(req.keep_alive());
            res.body() = std::move(r.body);
            res.prepare_payload();
            auto [wec, wn] = co_await http::async_write(sock, res, use_tuple);
            if (wec || !res.keep_alive()) co_return;
        }
    }
};

AdminServer::AdminServer(asio::io_context& io, std::string path, Handler handler)
    : impl_(new Impl{io, std::move(path), std::move(handler)}) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() {
    // A socket file left by a crashed predecessor would make bind fail.
    struct stat st{};
    if (::lstat(impl_->path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(impl_->path.c_str());
    local::endpoint ep(impl_->path);
    impl_->acceptor.open(ep.protocol());
    const mode_t old = ::umask(0177);  // born 0600: no window where others could connect
    boost::system::error_code ec;
    impl_->acceptor.bind(ep, ec);
    ::umask(old);
    if (ec) throw boost::system::system_error(ec, "admin socket " + impl_->path);
    ::chmod(impl_->path.c_str(), 0600);
    if (::lstat(impl_->path.c_str(), &st) == 0) {
        impl_->dev = st.st_dev;
        impl_->ino = st.st_ino;
    }
    impl_->acceptor.listen();
    impl_->bound = true;
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
}

void AdminServer::stop() {
    if (!impl_ || !impl_->bound) return;
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    struct stat st{};
    if (::lstat(impl_->path.c_str(), &st) == 0 && st.st_dev == impl_->dev && st.st_ino == impl_->ino)
        ::unlink(impl_->path.c_str());
    impl_->bound = false;
}

}  // namespace vigil::proxy
