// Strict HTTP/1.1 message-head parsing for the data path. Pure functions on
// raw bytes: no allocation, no Asio, no Beast, so the same code runs in the
// proxy, in unit tests and under a libFuzzer target.
//
// Why not Beast's parser here: it merges repeated identical Content-Length
// fields (we must refuse them, a classic smuggling vector) and its fields
// container allocates per header. The admin API, where convenience matters
// more than nanoseconds, does use Beast.
//
// Strictness, by design (each refusal closes the client connection):
//   - lines end with CRLF; a bare CR or LF, obs-fold or a CTL byte → 400
//   - Content-Length: 1*DIGIT, at most once; Transfer-Encoding: exactly
//     "chunked", at most once; both present → 400
//   - HTTP/1.1 needs exactly one Host; only HTTP/1.0 and HTTP/1.1
//   - Connection naming Content-Length, Transfer-Encoding or Host → 400
//   - head larger than the limit or more than max_headers fields → 431
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vigil::proxy {

struct Header {
    std::string_view name, value;
};

inline constexpr std::size_t max_headers = 100;

enum class BodyKind : std::uint8_t { none, length, chunked, until_close };

enum class ParseResult : std::uint8_t {
    ok,
    incomplete,         // need more bytes
    bad_request,        // 400
    too_large,          // 431 (request) / 502 (response)
    expectation_failed  // 417: an Expect other than 100-continue
};

struct RequestHead {
    std::string_view method, target;
    int version_minor = 1;  // HTTP/1.<minor>
    std::array<Header, max_headers> headers;
    std::size_t header_count = 0;
    std::size_t head_size = 0;  // bytes up to and including the blank line

    BodyKind body = BodyKind::none;
    std::uint64_t content_length = 0;
    bool keep_alive = true;
    bool expect_continue = false;
    std::string_view connection;  // the Connection value, for hop-by-hop removal
    std::string_view request_id, forwarded_for, forwarded;
    const char* error = nullptr;  // why, when not ok (for the log)

    bool idempotent() const noexcept;
};

struct ResponseHead {
    int status = 0;
    int version_minor = 1;
    std::array<Header, max_headers> headers;
    std::size_t header_count = 0;
    std::size_t head_size = 0;
    BodyKind body = BodyKind::until_close;
    std::uint64_t content_length = 0;
    bool keep_alive = true;
    const char* error = nullptr;
};

// Parses and validates the request head at the start of `bytes`. `max_head`
// bounds the head (request line + fields + blank line). Leading empty lines
// (RFC 9112 §2.2) are skipped and counted in head_size.
ParseResult validate_request(std::string_view bytes, std::size_t max_head, RequestHead& out) noexcept;

// The upstream's response head. `head_request` and the status decide whether a
// body follows (HEAD, 1xx, 204, 304 have none).
ParseResult parse_response(std::string_view bytes, std::size_t max_head, bool head_request,
                           ResponseHead& out) noexcept;

// Case-insensitive ASCII comparison (header names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;

// True when the comma-separated token list `list` holds `token`.
bool has_token(std::string_view list, std::string_view token) noexcept;

// Incremental validator of a chunked body, used to relay it verbatim: feed
// bytes as they arrive; it says how many belong to the body and when the body
// (last chunk and trailers) ends. Refuses bare LF, bad hex and oversized
// chunk sizes, malformed chunk extensions and trailer lines, and trailers
// that frame, route or control the connection (Content-Length,
// Transfer-Encoding, Host, Connection and the other hop-by-hop fields), so
// the upstream sees only framing we understood the same way.
class ChunkedScanner {
public:
    enum class Status : std::uint8_t { more, done, bad, too_large };

    explicit ChunkedScanner(std::uint64_t max_body = UINT64_MAX) noexcept : max_body_(max_body) {}

    // Consumes from data[0..n); sets `used` to the bytes that belong to the body.
    Status feed(const char* data, std::size_t n, std::size_t& used) noexcept;
    std::uint64_t body_bytes() const noexcept { return total_; }

private:
    enum class State : std::uint8_t {
        size_first, size, size_ws, ext, ext_name, ext_name_ws, ext_eq, ext_value, ext_quoted, ext_escape, ext_done,
        size_lf, data, data_cr, data_lf,
        trailer_start, trailer_name, trailer, trailer_lf, final_lf
    };
    State state_ = State::size_first;
    std::uint64_t chunk_ = 0, total_ = 0, max_body_;
    int digits_ = 0;
    char name_[17];  // a trailer's name, as far as the longest one refused
    std::size_t name_len_ = 0;
};

}  // namespace vigil::proxy
