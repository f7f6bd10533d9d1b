// libFuzzer target: the invariant behind issue 13 — the backend receives
// exactly the requests the client framed, in order, each once; never more,
// never fewer — checked on vigil-proxy's session logic with an in-memory
// upstream instead of sockets.
//
// The input is a client byte stream (after two bytes that pick the read
// sizes). It runs through the same pieces, called in the same order, as
// proxy/session.cpp: RequestFramer (which bytes belong to which request),
// normalize_target, build_request_head, and the body relayed exactly as far
// as the framer says. What would go to the upstream is collected, then:
//   - the stream fed in random pieces and fed at once give the same upstream
//     bytes (no decision depends on how reads split the stream);
//   - an independent parser (Beast's) at the upstream reads exactly as many
//     requests as the session forwarded, with the same methods, targets and
//     bodies, and no byte left over: a body is never a second request;
//   - every client byte is a head or a body byte of one forwarded request, or
//     still buffered when the stream ended or the session refused it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http_parse.hpp"
#include "proxy/path.hpp"
#include "proxy/request_framer.hpp"
#include "proxy/rewrite.hpp"
#include "tests/fuzz/beast_input.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace vigil::proxy;

constexpr std::size_t kMaxHead = 512;       // the smallest head limit vigil-proxy takes, to reach 431s
constexpr std::size_t kCapacity = 1024;     // small, so compaction and full buffers happen
constexpr std::uint64_t kMaxBody = 2048;

struct Forwarded {
    std::string method, target, body;  // body: as the client framed it (chunked: decoded)
    bool chunked = false;
};

struct Run {
    std::string upstream;              // every byte written to the upstream, complete requests only
    std::vector<Forwarded> requests;
    std::size_t consumed = 0;          // client bytes that were heads or bodies of those requests
};

// Decodes a chunked body the framer accepted (it validated the framing).
std::string dechunk(std::string_view raw) {
    std::string out;
    while (!raw.empty()) {
        std::size_t n = 0, i = 0;
        for (; i < raw.size(); ++i) {
            const char c = raw[i];
            const int v = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
            if (v < 0) break;
            n = n * 16 + static_cast<std::size_t>(v);
        }
        raw.remove_prefix(raw.find("\r\n") + 2);
        if (n == 0) break;
        out.append(raw.substr(0, n));
        raw.remove_prefix(n + 2);
    }
    return out;
}

// `pieces`: read sizes cycled through (0 entries: the whole stream at once).
Run session(std::string_view client, const std::vector<std::size_t>& pieces) {
    Run run;
    RequestFramer in(kCapacity, kMaxHead, kMaxBody);
    auto head = std::make_unique<RequestHead>();
    std::string norm, out;
    std::size_t fed = 0, turn = 0;
    auto read = [&]() -> bool {
        if (fed == client.size()) return false;
        char* at = in.read_ptr();
        std::size_t n = std::min(in.read_room(), client.size() - fed);
        if (!pieces.empty()) n = std::min(n, pieces[turn++ % pieces.size()]);
        VIGIL_FUZZ_CHECK(n > 0);  // the session never reads into a full buffer
        std::memcpy(at, client.data() + fed, n);
        fed += n;
        in.received(n);
        return true;
    };
    for (;;) {
        ParseResult r = ParseResult::incomplete;
        while (in.empty() || (r = in.parse_head(*head)) == ParseResult::incomplete)
            if (!read()) return run;
        if (r != ParseResult::ok) return run;  // 400/413/417/431 and close
        const std::size_t head_size = head->head_size;
        const bool keep = head->keep_alive;
        const bool chunked = head->body == BodyKind::chunked;
        switch (normalize_target(head->target, norm)) {
            case PathResult::same: break;
            case PathResult::changed: head->target = norm; break;
            case PathResult::bad: return run;
        }
        const char* p;
        std::size_t n;
        auto st = in.body(p, n);
        if (st == RequestFramer::Body::bad || st == RequestFramer::Body::too_large) return run;  // before any upstream byte
        Forwarded f{std::string(head->method), std::string(head->target), {}, chunked};
        build_request_head(out, *head, "127.0.0.1", false, "rid");
        std::string message = out;
        for (;;) {
            st = in.body(p, n);
            if (st == RequestFramer::Body::bad || st == RequestFramer::Body::too_large) return run;  // upstream aborted
            message.append(p, n);
            f.body.append(p, n);
            in.consume(n);
            if (in.at_boundary()) break;
            if (!read()) return run;  // the client went away mid-body: the upstream connection is closed
        }
        run.consumed += head_size + f.body.size();
        if (f.chunked) f.body = dechunk(f.body);
        run.upstream += message;
        run.requests.push_back(std::move(f));
        if (!keep) return run;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    std::vector<std::size_t> pieces;
    for (std::size_t i = 0; i < 2; ++i) pieces.push_back(1 + data[i] % 97);  // 1..97-byte reads
    const std::string_view client(reinterpret_cast<const char*>(data) + 2, size - 2);

    const Run split = session(client, pieces);
    const Run whole = session(client, {});
    VIGIL_FUZZ_CHECK(split.upstream == whole.upstream);
    VIGIL_FUZZ_CHECK(split.requests.size() == whole.requests.size());
    VIGIL_FUZZ_CHECK(split.consumed <= client.size());

    // The upstream's view, by a parser that is not ours.
    std::string_view up = split.upstream;
    for (const Forwarded& f : split.requests) {
        auto req = vigil::fuzz::next_request(up, 1 << 20, 1 << 20);
        VIGIL_FUZZ_CHECK(req.has_value());
        VIGIL_FUZZ_CHECK(req->method_string() == f.method);
        VIGIL_FUZZ_CHECK(req->target() == f.target);
        VIGIL_FUZZ_CHECK(req->body() == f.body);
    }
    VIGIL_FUZZ_CHECK(up.empty());  // nothing the client did not frame
    return 0;
}
