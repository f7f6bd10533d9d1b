// XML-RPC values and the codec between them and the wire: a methodCall is
// parsed with expat (codec.cpp) into a method name and a Value per param; a
// reply is written as a methodResponse holding one Value or a fault.
//
// The decoder is fed whatever a client sends, so it refuses rather than
// trusts: documents over kMaxBody, values nested deeper than kMaxDepth, a
// DOCTYPE (entity tricks), unknown elements and malformed scalars all come
// back as an error message, which the interface turns into a fault.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::supervisor::xmlrpc {

struct Value {
    enum class Type { nil, boolean, integer, dbl, string, base64, datetime, array, structure };
    Type type = Type::nil;
    bool b = false;
    std::int64_t i = 0;
    double d = 0;
    std::string s;  // string, base64 (decoded bytes), datetime (as sent)
    std::vector<Value> items;                            // array
    std::vector<std::pair<std::string, Value>> members;  // struct, in order

    Value() = default;
    static Value boolean(bool v) { Value x; x.type = Type::boolean; x.b = v; return x; }
    static Value integer(std::int64_t v) { Value x; x.type = Type::integer; x.i = v; return x; }
    static Value string(std::string v) { Value x; x.type = Type::string; x.s = std::move(v); return x; }
    static Value array() { Value x; x.type = Type::array; return x; }
    static Value structure() { Value x; x.type = Type::structure; return x; }

    // For builders: struct members and array items in order.
    Value& add(std::string key, Value v) {
        members.emplace_back(std::move(key), std::move(v));
        return *this;
    }
    Value& push(Value v) {
        items.push_back(std::move(v));
        return *this;
    }
    const Value* member(std::string_view key) const {
        for (const auto& [k, v] : members)
            if (k == key) return &v;
        return nullptr;
    }
};

const char* type_name(Value::Type t);

struct Call {
    std::string method;
    std::vector<Value> params;
};

// Limits on what a client may send.
// Under the control socket's HTTP body limit (1 MiB), so a request between
// the two is answered with a fault rather than a bare 413.
inline constexpr std::size_t kMaxBody = 512 * 1024;
inline constexpr int kMaxDepth = 32;  // nested arrays/structs

// The call, or nullopt with `error` saying why the document was refused.
std::optional<Call> decode_call(std::string_view body, std::string& error);

// A methodResponse carrying `v`.
std::string encode_response(const Value& v);
// A methodResponse carrying a fault struct {faultCode, faultString}.
std::string encode_fault(int code, std::string_view message);
// Appends `v` as a <value> element (exposed for the multicall builder and tests).
void encode_value(const Value& v, std::string& out);

}  // namespace vigil::supervisor::xmlrpc
