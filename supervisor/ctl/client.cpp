#include "supervisor/ctl/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <string_view>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>

namespace vigil::ctl {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using local = boost::asio::local::stream_protocol;
using tcp = boost::asio::ip::tcp;
// One socket type for both: the API is the same on either.
using Socket = boost::asio::generic::stream_protocol::socket;

bool connect(Socket& s, const Endpoint& at, std::string& error) {
    boost::system::error_code ec;
    if (at.port == 0) {
        s.connect(local::endpoint(at.path), ec);
    } else {
        tcp::resolver resolver(s.get_executor());
        const auto found = resolver.resolve(at.host, std::to_string(at.port), ec);
        if (!ec && found.empty()) ec = boost::asio::error::host_not_found;
        for (const auto& e : found) {
            boost::system::error_code ignored;
            s.close(ignored);
            s.connect(e.endpoint(), ec);
            if (!ec) break;
        }
    }
    if (ec) {
        error = "cannot reach vigild at " + at.describe() + ": " + ec.message();
        return false;
    }
    return true;
}

// A SyncReadStream that polls before every read, so a deadline holds
// whatever Beast has buffered (Asio retries a read that SO_RCVTIMEO
// interrupted, so the socket option alone would never fire).
class DeadlineReader {
public:
    DeadlineReader(Socket& s, std::optional<std::chrono::steady_clock::time_point> deadline)
        : s_(s), deadline_(deadline) {}

    template <class Buffers>
    std::size_t read_some(const Buffers& b, boost::system::error_code& ec) {
        if (deadline_) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ -
                                                                                     std::chrono::steady_clock::now());
            pollfd p{s_.native_handle(), POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                ec = boost::asio::error::timed_out;
                return 0;
            }
        }
        return s_.read_some(b, ec);
    }
    template <class Buffers>
    std::size_t read_some(const Buffers& b) {
        boost::system::error_code ec;
        const std::size_t n = read_some(b, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }

private:
    Socket& s_;
    std::optional<std::chrono::steady_clock::time_point> deadline_;
};

http::request<http::string_body> request(const Endpoint& at, const std::string& method, const std::string& target,
                                         const std::string& body) {
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, at.port == 0 ? std::string("vigil") : at.host);
    req.set(http::field::user_agent, "vigilctl");
    if (!at.username.empty()) {
        const std::string plain = at.username + ":" + at.password;
        std::string b64(beast::detail::base64::encoded_size(plain.size()), '\0');
        b64.resize(beast::detail::base64::encode(b64.data(), plain.data(), plain.size()));
        req.set(http::field::authorization, "Basic " + b64);
    }
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    return req;
}

}  // namespace

std::string Endpoint::describe() const {
    if (port == 0) return path;
    const bool v6 = host.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<HttpReply> Client::call(const std::string& method, const std::string& target, const std::string& body,
                                      std::string& error, std::chrono::seconds timeout) const {
    boost::asio::io_context io;
    Socket s(io);
    if (!connect(s, at_, error)) return std::nullopt;
    auto req = request(at_, method, target, body);
    req.keep_alive(false);
    req.prepare_payload();
    boost::system::error_code ec;
    http::write(s, req, ec);
    beast::flat_buffer buf;
    buf.reserve(64 * 1024);  // a few large reads instead of a hundred 512-byte ones
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    DeadlineReader reader(s, std::chrono::steady_clock::now() + timeout);
    if (!ec) http::read(reader, buf, parser, ec);
    if (ec == boost::asio::error::timed_out) {
        error = "vigild at " + at_.describe() + " did not answer within " + std::to_string(timeout.count()) + " s";
        return std::nullopt;
    }
    if (ec) {
        error = "vigild at " + at_.describe() + " did not answer: " + ec.message();
        return std::nullopt;
    }
    auto res = parser.release();
    HttpReply r;
    r.status = static_cast<int>(res.result_int());
    r.body = std::move(res.body());
    if (auto it = res.find("X-Log-Offset"); it != res.end()) r.log_offset = std::string(it->value());
    return r;
}

int Client::stream(const std::string& target, const std::function<bool(const std::string&)>& on_data,
                   std::string& error, std::optional<std::chrono::seconds> timeout, const std::string& method,
                   const std::string& body) const {
    boost::asio::io_context io;
    Socket s(io);
    if (!connect(s, at_, error)) return 0;
    // With a timeout, a silent stream ends at the deadline.
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
    DeadlineReader reader(s, deadline);
    auto req = request(at_, method, target, body);
    req.prepare_payload();
    boost::system::error_code ec;
    http::write(s, req, ec);
    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    if (!ec) http::read_header(reader, buf, parser, ec);
    if (ec) {
        error = "vigild at " + at_.describe() + " did not answer: " + ec.message();
        return 0;
    }
    const int status = static_cast<int>(parser.get().result_int());
    char chunk[8192];
    while (!parser.is_done()) {
        parser.get().body().data = chunk;
        parser.get().body().size = sizeof chunk;
        // read_some returns as soon as a piece of body arrived, so followed
        // output shows up as it happens, not when the buffer fills.
        http::read_some(reader, buf, parser, ec);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) break;
        const std::size_t n = sizeof chunk - parser.get().body().size;
        if (n > 0 && !on_data(std::string(chunk, n))) break;
    }
    return status;
}

std::string path_segment(const std::string& name) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : name) {
        if (std::isalnum(c) || std::string_view("-._~:*@+!$&'()=,").find(static_cast<char>(c)) != std::string_view::npos) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

}  // namespace vigil::ctl
