// The only translation unit of the server side that includes Beast.
#include "http_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <optional>
#include <stdexcept>

#include "log.hpp"

namespace vigil::services {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct HttpServer::Impl {
    ServerOptions options;
    Handler handler;
    asio::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    asio::signal_set signals{ioc, SIGINT, SIGTERM};
    asio::steady_timer drain_timer{ioc};
    // Declared after ioc so that it is destroyed (joined) first: worker
    // tasks post their results back to ioc.
    asio::thread_pool workers;
    std::size_t in_flight = 0;  // requests read but not yet answered; I/O thread only
    bool draining = false;

    Impl(ServerOptions opts, Handler h)
        : options(std::move(opts)), handler(std::move(h)), workers(std::max(1u, options.workers)) {}

    void do_accept();
    void request_done() {
        --in_flight;
        if (draining && in_flight == 0) ioc.stop();
    }
};

namespace {

// Runs the handler and turns anything it throws into a 500, so a bad
// request can never take the process down.
Response call_handler(const Handler& handler, const Request& req) {
    try {
        return handler(req);
    } catch (const std::exception& e) {
        service_log().error("handler failed on {} {}: {}", req.method, req.path, e.what());
    } catch (...) {
        service_log().error("handler failed on {} {}: unknown exception", req.method, req.path);
    }
    return Response::error(500, "internal error");
}

Request to_request(const http::request<http::string_body>& msg) {
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.path = req.target.substr(0, req.target.find('?'));
    for (const auto& field : msg) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        req.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    req.body = msg.body();
    return req;
}

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, HttpServer::Impl& server) : stream_(std::move(socket)), server_(server) {}

    void start() { do_read(); }

private:
    void do_read() {
        parser_.emplace();
        parser_->body_limit(server_.options.body_limit);
        parser_->header_limit(16 * 1024);
        stream_.expires_after(std::chrono::seconds(server_.options.idle_timeout_s));
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        started_ = Clock::now();
        if (ec) {
            // Expected ends of a connection (peer closed, idle timeout,
            // shutdown) are values, not failures: just close.
            const bool parse_error = ec.category() == http::make_error_code(http::error::bad_target).category() &&
                                     ec != http::error::end_of_stream && ec != http::error::partial_message;
            if (!parse_error) return close();
            // A malformed or oversized request gets an answer and the
            // connection is closed, since the stream position is unknown.
            method_ = "-";
            path_ = "-";
            ++server_.in_flight;
            Response res = ec == http::error::body_limit     ? Response::error(413, "request body too large")
                           : ec == http::error::header_limit ? Response::error(431, "request headers too large")
                                                             : Response::error(400, "malformed HTTP request");
            return write(std::move(res), false);
        }

        auto msg = parser_->release();
        bool keep_alive = msg.keep_alive();
        Request req = to_request(msg);
        method_ = req.method;
        path_ = req.path;
        ++server_.in_flight;
        asio::post(server_.workers, [self = shared_from_this(), req = std::move(req), keep_alive]() mutable {
            Response res = call_handler(self->server_.handler, req);
            asio::post(self->stream_.get_executor(), [self, res = std::move(res), keep_alive]() mutable {
                self->write(std::move(res), keep_alive);
            });
        });
    }

    void write(Response res, bool keep_alive) {
        auto msg = std::make_shared<http::response<http::string_body>>();
        msg->version(11);
        msg->result(static_cast<unsigned>(res.status));
        msg->set(http::field::server, "vigil-services");
        msg->set(http::field::content_type, res.content_type);
        for (auto& [name, value] : res.headers) msg->set(name, value);
        msg->body() = std::move(res.body);
        msg->keep_alive(keep_alive && !server_.draining);
        msg->prepare_payload();
        // Logged before the bytes go out, so whoever reads the answer can
        // already find its line in the log.
        auto ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
        access_log().info("{} {} {} {:.1f}ms", method_, path_, res.status, ms);
        stream_.expires_after(std::chrono::seconds(server_.options.idle_timeout_s));
        http::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, std::size_t) {
            self->on_write(ec, msg->keep_alive());
        });
    }

    void on_write(beast::error_code ec, bool keep_alive) {
        server_.request_done();
        if (ec || !keep_alive) return close();
        do_read();
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.socket().close(ignored);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    HttpServer::Impl& server_;
    Clock::time_point started_;
    std::string method_;
    std::string path_;
};

}  // namespace

void HttpServer::Impl::do_accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        if (!ec) {
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::make_shared<Session>(std::move(socket), *this)->start();
        } else {
            // EMFILE and the like: keep serving the connections we have.
            service_log().warn("accept failed: {}", ec.message());
        }
        do_accept();
    });
}

HttpServer::HttpServer(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {
    // hiredis writes with plain write(2): a Redis that vanished must cost an
    // error return, not the process.
    std::signal(SIGPIPE, SIG_IGN);
    auto& acc = impl_->acceptor;
    beast::error_code ec;
    auto address = asio::ip::make_address(impl_->options.bind, ec);
    if (ec) throw std::runtime_error("BIND '" + impl_->options.bind + "' is not an IP address");
    tcp::endpoint endpoint(address, impl_->options.port);
    std::string where = impl_->options.bind + ":" + std::to_string(impl_->options.port);
    acc.open(endpoint.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc.bind(endpoint, ec);
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::run() {
    auto& s = *impl_;
    s.signals.async_wait([&s](beast::error_code ec, int signo) {
        if (ec) return;
        service_log().info("signal {}: draining {} in-flight request(s)", signo, s.in_flight);
        s.draining = true;
        beast::error_code ignored;
        s.acceptor.close(ignored);
        if (s.in_flight == 0) return s.ioc.stop();
        s.drain_timer.expires_after(std::chrono::seconds(s.options.drain_timeout_s));
        s.drain_timer.async_wait([&s](beast::error_code e) {
            if (!e) s.ioc.stop();
        });
    });
    s.do_accept();
    s.ioc.run();
}

}  // namespace vigil::services
