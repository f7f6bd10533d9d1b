// libFuzzer target: vigil-proxy's HTTP request parsing on arbitrary bytes —
// proxy::validate_request (the request head, with the strictness rules of
// proxy/http_parse.hpp) and, for chunked requests, the ChunkedScanner that
// relays the body.
//
// Beyond "no crash, no UB", it checks properties the data path relies on:
//   - every view in the parsed head (method, target, header names and
//     values, Connection, X-Request-Id, X-Forwarded-For) lies inside the
//     input, and head_size does not pass its end;
//   - the verdict depends only on the head: the head alone (bytes up to
//     head_size) parses the same, and one byte less is merely incomplete;
//   - a smaller head limit refuses exactly the heads that do not fit in it;
//   - a chunked body fed in small pieces gives the same verdict, the same
//     length and the same end as fed at once.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "proxy/http_parse.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace vigil::proxy;

constexpr std::size_t kMaxHead = 16 * 1024;  // vigil-proxy's default --max-header
constexpr std::size_t kSmallHead = 256;      // the smallest --max-header it accepts

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) return true;
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_head(const RequestHead& h, std::string_view bytes) {
    VIGIL_FUZZ_CHECK(h.head_size > 0 && h.head_size <= bytes.size());
    const std::string_view head = bytes.substr(0, h.head_size);
    VIGIL_FUZZ_CHECK(!h.method.empty() && inside(h.method, head));
    VIGIL_FUZZ_CHECK(!h.target.empty() && inside(h.target, head));
    VIGIL_FUZZ_CHECK(h.version_minor == 0 || h.version_minor == 1);
    VIGIL_FUZZ_CHECK(h.header_count <= max_headers);
    for (std::size_t i = 0; i < h.header_count; ++i) {
        VIGIL_FUZZ_CHECK(!h.headers[i].name.empty());
        VIGIL_FUZZ_CHECK(inside(h.headers[i].name, head) && inside(h.headers[i].value, head));
    }
    VIGIL_FUZZ_CHECK(inside(h.connection, head) && inside(h.request_id, head) && inside(h.forwarded_for, head));
    if (h.body != BodyKind::length) VIGIL_FUZZ_CHECK(h.content_length == 0);
    VIGIL_FUZZ_CHECK(h.body != BodyKind::until_close);  // a request body is framed or absent
    VIGIL_FUZZ_CHECK(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n");
}

void check_chunked(std::string_view body) {
    ChunkedScanner whole(1 << 20);
    std::size_t whole_used = 0;
    const auto whole_st = whole.feed(body.data(), body.size(), whole_used);

    ChunkedScanner pieces(1 << 20);
    std::size_t total = 0, i = 0;
    auto st = ChunkedScanner::Status::more;
    while (i < body.size()) {
        // Piece sizes from the data itself: 1 to 8 bytes.
        const std::size_t k = std::min<std::size_t>(1 + static_cast<unsigned char>(body[i]) % 8, body.size() - i);
        std::size_t used = 0;
        st = pieces.feed(body.data() + i, k, used);
        if (st == ChunkedScanner::Status::more || st == ChunkedScanner::Status::done) {
            VIGIL_FUZZ_CHECK(used <= k);
            total += used;
        }
        if (st != ChunkedScanner::Status::more) break;
        VIGIL_FUZZ_CHECK(used == k);
        i += k;
    }
    VIGIL_FUZZ_CHECK(st == whole_st);
    if (st == ChunkedScanner::Status::done || st == ChunkedScanner::Status::more) {
        VIGIL_FUZZ_CHECK(total == whole_used);
        VIGIL_FUZZ_CHECK(pieces.body_bytes() == whole.body_bytes());
        VIGIL_FUZZ_CHECK(whole_used <= body.size());
    }
    if (st == ChunkedScanner::Status::done) VIGIL_FUZZ_CHECK(whole.body_bytes() <= whole_used);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // RequestHead holds 100 header slots: heap, reused, as a session does.
    static auto req = std::make_unique<RequestHead>();
    static auto again = std::make_unique<RequestHead>();
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);

    const ParseResult r = validate_request(bytes, kMaxHead, *req);
    if (r != ParseResult::ok) {
        VIGIL_FUZZ_CHECK(r == ParseResult::incomplete || req->error != nullptr);
        if (r == ParseResult::incomplete) VIGIL_FUZZ_CHECK(bytes.size() < kMaxHead);
        // A smaller limit never turns a refused or unfinished head into a good one.
        VIGIL_FUZZ_CHECK(validate_request(bytes, kSmallHead, *again) != ParseResult::ok);
        return 0;
    }
    check_head(*req, bytes);
    const std::size_t head_size = req->head_size;

    // The head alone gives the same verdict; one byte less is incomplete.
    VIGIL_FUZZ_CHECK(validate_request(bytes.substr(0, head_size), kMaxHead, *again) == ParseResult::ok);
    VIGIL_FUZZ_CHECK(again->head_size == head_size && again->body == req->body &&
                     again->content_length == req->content_length && again->header_count == req->header_count);
    VIGIL_FUZZ_CHECK(validate_request(bytes.substr(0, head_size - 1), kMaxHead, *again) == ParseResult::incomplete);

    // The smallest limit refuses exactly the heads longer than it.
    const ParseResult small = validate_request(bytes, kSmallHead, *again);
    if (head_size <= kSmallHead) VIGIL_FUZZ_CHECK(small == ParseResult::ok && again->head_size == head_size);
    else VIGIL_FUZZ_CHECK(small == ParseResult::too_large);

    // validate_request is re-run above into `again`; `req` must be unchanged.
    VIGIL_FUZZ_CHECK(req->head_size == head_size);
    (void)req->idempotent();

    if (req->body == BodyKind::chunked) check_chunked(bytes.substr(head_size));
    return 0;
}
