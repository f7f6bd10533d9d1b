// libFuzzer target for the data path's parsers: request heads, response
// heads and chunked framing, on arbitrary bytes. Build with
// -DVIGIL_FUZZ=ON (clang); run: ./proxy_fuzz_request -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "proxy/http_parse.hpp"

using namespace vigil::proxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    static auto req = std::make_unique<RequestHead>();
    static auto resp = std::make_unique<ResponseHead>();

    if (validate_request(bytes, 8192, *req) == ParseResult::ok) {
        // Invariants the proxy relies on.
        if (req->head_size > size || req->header_count > max_headers) __builtin_trap();
        if (req->body == BodyKind::chunked && req->content_length != 0) __builtin_trap();
        ChunkedScanner chunks(1 << 20);
        std::size_t used = 0;
        chunks.feed(bytes.data() + req->head_size, size - req->head_size, used);
        if (used > size - req->head_size) __builtin_trap();
    }
    if (parse_response(bytes, 8192, size & 1, *resp) == ParseResult::ok && resp->head_size > size) __builtin_trap();
    return 0;
}
