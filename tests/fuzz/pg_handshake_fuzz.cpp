// libFuzzer target: the PostgreSQL handshake reader on arbitrary server bytes
// (a postgres:// probe connects to whatever listens on the port).
//
// The reader must never crash or buffer without bound, and its verdict must
// not depend on how the bytes were split into reads: the first byte of the
// input picks a split size, the rest is the server's answer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "supervisor/core/pg_handshake.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace pg = vigil::core::pg;
    if (size == 0) return 0;
    const std::size_t step = std::size_t{data[0]} % 17 + 1;
    const std::string_view answer(reinterpret_cast<const char*>(data + 1), size - 1);

    pg::HandshakeReader whole;
    const pg::Judgement a = whole.feed(answer);

    pg::HandshakeReader pieces;
    pg::Judgement b;
    for (std::size_t at = 0; at < answer.size(); at += step) {
        b = pieces.feed(answer.substr(at, step));
        if (b.verdict != pg::Verdict::need_more) break;
    }
    if (answer.empty()) b = pieces.feed({});

    VIGIL_FUZZ_CHECK(a.verdict == b.verdict);
    VIGIL_FUZZ_CHECK(a.detail == b.detail);
    VIGIL_FUZZ_CHECK(a.send_terminate == b.send_terminate);
    VIGIL_FUZZ_CHECK((a.verdict == pg::Verdict::need_more) == a.detail.empty());
    VIGIL_FUZZ_CHECK(!a.send_terminate || a.verdict == pg::Verdict::accepting);
    return 0;
}
