// RESP (the Redis protocol, version 2) replies, pure: the one reader of
// what a Redis server answers, for vigild's replication driver
// (core/redis_replication.hpp) and vigilctl's backup client
// (ctl/redis_client.hpp). Requests: core::redis::command.
//
// Whatever answers on a Redis port is outside input, and a reply is read
// until it is whole: so every reply is read within limits its caller
// gives, and one that would pass them is refused (the error says which)
// as soon as that is certain — never buffered in the hope it ends. While
// it waits for more, the caller holds at most `max_reply` bytes.
//
// The verdict depends on the bytes only, not on how they were split into
// reads: a prefix is refused only when every continuation of it would be
// (tests/fuzz/redis_reply_fuzz.cpp checks this).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::core::resp {

struct Limits {
    std::size_t max_line = 64 * 1024;         // a status, error or integer line, a length header (with its type byte)
    std::size_t max_bulk = 1024 * 1024;       // a bulk string's body
    std::size_t max_items = 1024;             // one array's elements
    std::size_t max_depth = 8;                // arrays within arrays: 1 allows flat arrays only, 0 none
    std::size_t max_reply = 4 * 1024 * 1024;  // one whole reply, all of its lines and bodies
};

struct Value {
    // nil: "$-1" (a missing key) or "*-1" (a null array).
    enum class Type { simple, error, integer, bulk, nil, array } type = Type::nil;
    std::string str;  // simple, error, bulk
    std::int64_t integer = 0;
    std::vector<Value> items;  // array
    friend bool operator==(const Value&, const Value&) = default;
};

// One reply from the front of `buf`. A reply: `used` is its length (more
// replies may follow it). nullopt: incomplete, `error` empty (call again
// with more bytes, the same front), or refused, `error` says why (the rest
// of the stream cannot be trusted: close the connection).
std::optional<Value> parse(std::string_view buf, std::size_t& used, std::string& error, const Limits& limits = {});

}  // namespace vigil::core::resp
