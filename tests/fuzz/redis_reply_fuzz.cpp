// libFuzzer target: what Redis answers vigil — vigild's replication manager
// on a pair member's port, vigilctl backup on a program's — through the one
// RESP reader (supervisor/core/resp.hpp), vigild's use of it
// (core::redis::parse_reply), the `INFO replication` text inside replies,
// and the lag and drain verdicts made from it. Whatever answers is outside
// input.
//
// The reader must never crash or hold more than its limits, and what it
// reads must not depend on how the bytes were split into reads. Input: the
// first byte picks a split size (1–17 bytes); when its top bit is set, the
// next four pick small limits (lines, bulks, items, depth, whole reply: a
// fuzz input is a few KiB, vigild's limits are 64 KiB and 1 MiB) and the
// rest goes through resp::parse with them; otherwise the rest goes through
// vigild's parse_reply and through resp::parse with the default limits
// (arrays 8 deep). The rest is the server's answer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "supervisor/core/redis_replication.hpp"
#include "supervisor/core/resp.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

namespace redis = vigil::core::redis;
namespace resp = vigil::core::resp;

template <class T>
struct Read {
    std::vector<T> replies;
    std::string bad;  // why the reader stopped, "" while it waits for more
};

// Every reply `answer` holds, fed `piece` bytes at a time to `parse`.
template <class T, class Parse>
Read<T> read_all(std::string_view answer, std::size_t piece, std::size_t max_reply, Parse parse) {
    Read<T> out;
    std::string buf;
    for (std::size_t at = 0; at < answer.size() && out.bad.empty(); at += piece) {
        buf.append(answer.substr(at, piece));
        std::size_t used = 0;
        while (auto r = parse(buf, used, out.bad)) {
            VIGIL_FUZZ_CHECK(used > 0 && used <= buf.size() && used <= max_reply);
            out.replies.push_back(std::move(*r));
            buf.erase(0, used);
        }
        // Waiting for more holds at most one reply's worth.
        VIGIL_FUZZ_CHECK(!out.bad.empty() || buf.size() <= max_reply);
    }
    return out;
}

// A reply the reader gave is within the limits it was given.
void check_within(const resp::Value& v, const resp::Limits& lim, std::size_t depth) {
    using Type = resp::Value::Type;
    if (v.type == Type::bulk) VIGIL_FUZZ_CHECK(v.str.size() <= lim.max_bulk);
    if (v.type == Type::simple || v.type == Type::error) VIGIL_FUZZ_CHECK(v.str.size() + 1 <= lim.max_line);
    if (v.type != Type::bulk && v.type != Type::simple && v.type != Type::error) VIGIL_FUZZ_CHECK(v.str.empty());
    if (v.type != Type::array) {
        VIGIL_FUZZ_CHECK(v.items.empty());
        return;
    }
    VIGIL_FUZZ_CHECK(depth + 1 <= lim.max_depth);
    VIGIL_FUZZ_CHECK(v.items.size() <= lim.max_items);
    for (const auto& item : v.items) check_within(item, lim, depth + 1);
}

// The reply as Redis would send it: never longer than what was read.
std::string encode(const resp::Value& v) {
    using Type = resp::Value::Type;
    switch (v.type) {
        case Type::simple: return "+" + v.str + "\r\n";
        case Type::error: return "-" + v.str + "\r\n";
        case Type::integer: return ":" + std::to_string(v.integer) + "\r\n";
        case Type::bulk: return "$" + std::to_string(v.str.size()) + "\r\n" + v.str + "\r\n";
        case Type::nil: return "$-1\r\n";
        case Type::array: break;
    }
    std::string out = "*" + std::to_string(v.items.size()) + "\r\n";
    for (const auto& item : v.items) out += encode(item);
    return out;
}

void check_resp(std::string_view answer, std::size_t step, const resp::Limits& lim) {
    auto parse = [&](std::string_view buf, std::size_t& used, std::string& bad) {
        return resp::parse(buf, used, bad, lim);
    };
    const auto whole = read_all<resp::Value>(answer, answer.size() + 1, lim.max_reply, parse);
    const auto pieces = read_all<resp::Value>(answer, step, lim.max_reply, parse);
    VIGIL_FUZZ_CHECK(whole.bad == pieces.bad);
    VIGIL_FUZZ_CHECK(whole.replies == pieces.replies);
    for (const auto& v : whole.replies) {
        check_within(v, lim, 0);
        // Read back from its plain encoding: the same reply, within the same limits.
        const std::string again = encode(v);
        std::size_t used = 0;
        std::string bad;
        const auto back = resp::parse(again, used, bad, lim);
        VIGIL_FUZZ_CHECK(back && *back == v && used == again.size());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t step = std::size_t{data[0]} % 17 + 1;
    if ((data[0] & 0x80) != 0) {
        if (size < 5) return 0;
        resp::Limits lim;
        lim.max_line = data[1] % 64;
        lim.max_bulk = data[2] % 64;
        lim.max_items = data[3] % 8;
        lim.max_depth = data[3] / 8 % 8;
        lim.max_reply = std::size_t{data[4]} * 4;
        check_resp(std::string_view(reinterpret_cast<const char*>(data + 5), size - 5), step, lim);
        return 0;
    }
    const std::string_view answer(reinterpret_cast<const char*>(data + 1), size - 1);
    check_resp(answer, step, resp::Limits{});

    // vigild's replies: the same whole or in pieces.
    const auto whole = read_all<redis::Reply>(answer, answer.size() + 1, redis::kLimits.max_reply, redis::parse_reply);
    const auto pieces = read_all<redis::Reply>(answer, step, redis::kLimits.max_reply, redis::parse_reply);
    VIGIL_FUZZ_CHECK(whole.bad == pieces.bad);
    VIGIL_FUZZ_CHECK(whole.replies.size() == pieces.replies.size());
    for (std::size_t i = 0; i < whole.replies.size() && i < pieces.replies.size(); ++i) {
        VIGIL_FUZZ_CHECK(whole.replies[i].error == pieces.replies[i].error);
        VIGIL_FUZZ_CHECK(whole.replies[i].text == pieces.replies[i].text);
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
