// Feeding raw bytes to Beast's request parser the way vigild's control
// server and vigil-proxy's admin server do: the whole input is what arrived
// before the peer closed, possibly several pipelined requests.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "tests/fuzz/fuzz_check.hpp"

namespace vigil::fuzz {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

// Parses the next request at the front of `bytes` with the given limits, as
// http::async_read would on a stream that ends where `bytes` ends. Advances
// `bytes` past what the parser consumed. Returns the request when one parsed
// completely; nullopt on a parse error or an incomplete request.
inline std::optional<Request> next_request(std::string_view& bytes, std::size_t header_limit, std::size_t body_limit) {
    namespace http = boost::beast::http;
    http::request_parser<http::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(body_limit);
    parser.eager(true);
    boost::beast::error_code ec;
    while (!parser.is_done()) {
        const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
        VIGIL_FUZZ_CHECK(used <= bytes.size());
        bytes.remove_prefix(used);
        if (ec && ec != http::error::need_more) return std::nullopt;
        if (parser.is_done()) break;
        if (bytes.empty() || used == 0) {
            // No more bytes, or none the parser can take without more: the
            // stream ends here, which is what Beast sees on EOF.
            ec = {};
            parser.put_eof(ec);
            if (ec || !parser.is_done()) return std::nullopt;
            break;
        }
        ec = {};
    }
    return parser.release();
}

}  // namespace vigil::fuzz
