// libFuzzer target: what vigild's replication manager reads from a Redis
// pair member (supervisor/core/redis_replication.hpp): RESP replies, the
// `INFO replication` text inside them, and the lag and drain verdicts made
// from it. Whatever answers on a member's port is outside input.
//
// The reply reader must never crash or buffer past its limits, and what it
// reads must not depend on how the bytes were split into reads: the first
// byte of the input picks a split size, the rest is the server's answer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "supervisor/core/redis_replication.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

namespace redis = vigil::core::redis;

// Every reply `answer` holds, read `piece` bytes at a time, and why the
// reader stopped ("" while it waits for more).
std::pair<std::vector<redis::Reply>, std::string> read_all(std::string_view answer, std::size_t piece) {
    std::vector<redis::Reply> got;
    std::string buf, bad;
    for (std::size_t at = 0; at < answer.size() && bad.empty(); at += piece) {
        buf.append(answer.substr(at, piece));
        std::size_t used = 0;
        while (auto r = redis::parse_reply(buf, used, bad)) {
            VIGIL_FUZZ_CHECK(used > 0 && used <= buf.size());
            got.push_back(std::move(*r));
            buf.erase(0, used);
        }
        // Waiting for more holds at most one reply's worth.
        VIGIL_FUZZ_CHECK(!bad.empty() || buf.size() <= redis::kMaxLine + 2 + redis::kMaxBulk + 2);
    }
    return {std::move(got), bad};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t step = std::size_t{data[0]} % 17 + 1;
    const std::string_view answer(reinterpret_cast<const char*>(data + 1), size - 1);

    const auto whole = read_all(answer, answer.size() + 1);
    const auto pieces = read_all(answer, step);
    VIGIL_FUZZ_CHECK(whole.second == pieces.second);
    VIGIL_FUZZ_CHECK(whole.first.size() == pieces.first.size());
    for (std::size_t i = 0; i < whole.first.size() && i < pieces.first.size(); ++i) {
        VIGIL_FUZZ_CHECK(whole.first[i].error == pieces.first[i].error);
        VIGIL_FUZZ_CHECK(whole.first[i].text == pieces.first[i].text);
    }

    // The INFO text as the master's and as the replica's: any verdict, no crash.
    const redis::Info info = redis::parse_info(answer);
    for (const auto& [key, value] : info) {
        VIGIL_FUZZ_CHECK(key.find('\n') == std::string::npos && key.find(':') == std::string::npos);
        VIGIL_FUZZ_CHECK(value.find('\n') == std::string::npos);
    }
    const redis::Info empty;
    (void)redis::replica_lag(info, info, "127.0.0.1", 6380, 6379);
    (void)redis::replica_lag(info, empty, "0.0.0.0", 6380, 6379);
    std::string why;
    if (!redis::drained(info, why)) VIGIL_FUZZ_CHECK(!why.empty());
    return 0;
}
