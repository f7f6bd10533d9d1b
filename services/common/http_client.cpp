// The only client-side translation unit that includes Beast and asio::ssl.
#include "http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace vigil::services {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::optional<Url> parse_url(const std::string& text) {
    Url url;
    std::string_view rest(text);
    if (rest.starts_with("http://")) {
        rest.remove_prefix(7);
        url.port = 80;
    } else if (rest.starts_with("https://")) {
        rest.remove_prefix(8);
        url.tls = true;
        url.port = 443;
    } else {
        return std::nullopt;
    }
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    url.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
    while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
    if (auto colon = authority.rfind(':'); colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
        auto digits = authority.substr(colon + 1);
        unsigned port = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
        if (ec != std::errc() || end != digits.data() + digits.size() || port == 0 || port > 65535) return std::nullopt;
        url.port = static_cast<std::uint16_t>(port);
        authority = authority.substr(0, colon);
    }
    if (authority.empty()) return std::nullopt;
    url.host = std::string(authority);
    return url;
}

std::optional<std::string> HttpResult::header(const std::string& lowercase_name) const {
    for (const auto& [name, value] : headers) {
        if (name == lowercase_name) return value;
    }
    return std::nullopt;
}

namespace {

using Request = http::request<http::string_body>;

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, Request& req, HttpResult& out) {
    co_await http::async_write(stream, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1024 * 1024);
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& field : res) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        out.headers.emplace_back(std::move(name), std::string(field.value()));
    }
}

asio::awaitable<void> run(const Url& url, Request& req, const ClientOptions& options, HttpResult& out) {
    auto executor = co_await asio::this_coro::executor;
    auto deadline = std::chrono::steady_clock::now() + options.timeout;
    tcp::resolver resolver(executor);
    auto endpoints = co_await resolver.async_resolve(url.host, std::to_string(url.port), asio::use_awaitable);
    if (!url.tls) {
        beast::tcp_stream stream(executor);
        stream.expires_at(deadline);  // applies to every following operation on the stream
        co_await stream.async_connect(endpoints, asio::use_awaitable);
        co_await exchange(stream, req, out);
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        co_return;
    }
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (!options.ca_file.empty()) {
        ctx.load_verify_file(options.ca_file);
        ctx.set_verify_mode(ssl::verify_peer);
    } else {
        ctx.set_verify_mode(ssl::verify_none);
    }
    beast::ssl_stream<beast::tcp_stream> stream(executor, ctx);
    if (!options.ca_file.empty()) stream.set_verify_callback(ssl::host_name_verification(url.host));
    SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
    beast::get_lowest_layer(stream).expires_at(deadline);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
    co_await stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
    co_await exchange(stream, req, out);
}

}  // namespace

HttpResult http_request(const std::string& method, const Url& url, const std::string& target,
                        const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                        const ClientOptions& options) {
    HttpResult out;
    Request req;
    req.version(11);
    req.method_string(method);
    req.target(target.empty() ? "/" : target);
    bool default_port = url.port == (url.tls ? 443 : 80);
    req.set(http::field::host, default_port ? url.host : url.host + ":" + std::to_string(url.port));
    req.set(http::field::connection, "close");
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || method == "POST" || method == "PUT") {
        req.body() = body;
        req.prepare_payload();
    }
    try {
        asio::io_context ioc(1);
        asio::co_spawn(ioc, run(url, req, options, out), [&out](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                out.error = ex.what();
            } catch (...) {
                out.error = "unknown error";
            }
        });
        ioc.run();
    } catch (const std::exception& e) {
        out.error = e.what();
    }
    if (!out.error.empty()) out.status = 0;
    return out;
}

}  // namespace vigil::services
