// libFuzzer target: the PostgreSQL handshake reader on arbitrary server bytes
// (a postgres:// probe connects to whatever listens on the port), and the
// simple query reader vigild's replication manager reads its servers with.
//
// The reader must never crash or buffer without bound, and its verdict must
// not depend on how the bytes were split into reads: the first byte of the
// input picks a split size, the rest is the server's answer.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "supervisor/core/pg_handshake.hpp"
#include "supervisor/core/pg_query.hpp"
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

    // The query reader: the same messages whatever the split, never more
    // bytes consumed than fed, and bad stays bad.
    auto read_all = [&](std::size_t piece) {
        pg::QueryReader in;
        std::vector<pg::ServerMessage> got;
        for (std::size_t at = 0; at < answer.size(); at += piece) {
            in.feed(answer.substr(at, piece));
            pg::ServerMessage m;
            while (in.next(m)) got.push_back(std::move(m));
        }
        return std::make_pair(std::move(got), in.why_bad());
    };
    const auto q1 = read_all(answer.size() + 1);
    const auto q2 = read_all(step);
    VIGIL_FUZZ_CHECK(q1.first.size() == q2.first.size());
    VIGIL_FUZZ_CHECK(q1.second == q2.second);
    for (std::size_t i = 0; i < q1.first.size() && i < q2.first.size(); ++i) {
        VIGIL_FUZZ_CHECK(q1.first[i].kind == q2.first[i].kind);
        VIGIL_FUZZ_CHECK(q1.first[i].text == q2.first[i].text);
        VIGIL_FUZZ_CHECK(q1.first[i].row == q2.first[i].row);
    }
    return 0;
}
