#include "supervisor/core/resp.hpp"

#include <charconv>

namespace vigil::core::resp {
namespace {

// A line quoted in an error: printable, and short (it is outside input).
std::string shown(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < 40; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    if (s.size() > 40) out += "...";
    return "'" + out + "'";
}

bool to_int(std::string_view s, std::int64_t& n) {
    const char* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, n);
    return !s.empty() && ec == std::errc() && p == end;
}

// An array still missing `left` elements.
struct Open {
    Value array;
    std::size_t left;
};

}  // namespace

std::optional<Value> parse(std::string_view buf, std::size_t& used, std::string& error, const Limits& lim) {
    error.clear();
    // Nothing past max_reply is looked at: a reply still incomplete there
    // is too long, whatever follows — the same verdict however much of it
    // has arrived.
    const std::string_view in = buf.substr(0, lim.max_reply);
    const bool beyond = buf.size() > in.size();
    auto refuse = [&](std::string why) -> std::optional<Value> {
        error = std::move(why);
        return std::nullopt;
    };
    auto too_long = [&] { return refuse("a reply longer than " + std::to_string(lim.max_reply) + " bytes"); };
    auto incomplete = [&]() -> std::optional<Value> {
        if (beyond) return too_long();
        return std::nullopt;
    };

    std::vector<Open> open;
    std::size_t pos = 0;
    for (;;) {
        if (pos >= in.size()) return incomplete();
        const auto eol = in.find("\r\n", pos);
        // The line is at least this long: a last '\r' may yet be its end.
        const std::size_t known = eol != std::string_view::npos ? eol - pos : in.size() - pos - (in.back() == '\r');
        if (known > lim.max_line)
            return refuse("a reply line longer than " + std::to_string(lim.max_line) + " bytes");
        if (eol == std::string_view::npos) return incomplete();
        const char type = in[pos];
        const std::string_view line = in.substr(pos + 1, eol - pos - 1);
        pos = eol + 2;
        Value v;
        switch (type) {
            case '+':
            case '-':
                v.type = type == '+' ? Value::Type::simple : Value::Type::error;
                v.str = std::string(line);
                break;
            case ':':
                v.type = Value::Type::integer;
                if (!to_int(line, v.integer)) return refuse("a malformed integer reply " + shown(line));
                break;
            case '$': {
                std::int64_t len = 0;
                if (!to_int(line, len) || len < -1) return refuse("a malformed bulk length " + shown(line));
                if (len == -1) break;  // nil
                const auto n = static_cast<std::uint64_t>(len);
                if (n > lim.max_bulk)
                    return refuse("a bulk reply of " + std::to_string(n) + " bytes (at most " +
                                  std::to_string(lim.max_bulk) + ")");
                if (n + 2 > lim.max_reply - pos) return too_long();
                const std::size_t end = pos + static_cast<std::size_t>(n);
                if (in.size() < end + 2) return incomplete();
                if (in.substr(end, 2) != "\r\n") return refuse("a bulk reply longer than its length");
                v.type = Value::Type::bulk;
                v.str = std::string(in.substr(pos, end - pos));
                pos = end + 2;
                break;
            }
            case '*': {
                std::int64_t count = 0;
                if (!to_int(line, count) || count < -1) return refuse("a malformed array length " + shown(line));
                if (count == -1) break;  // nil
                if (open.size() >= lim.max_depth)
                    return refuse(lim.max_depth == 0 ? std::string("an array reply (none expected)")
                                                     : "arrays nested deeper than " + std::to_string(lim.max_depth));
                const auto n = static_cast<std::uint64_t>(count);
                if (n > lim.max_items)
                    return refuse("an array reply of " + std::to_string(n) + " items (at most " +
                                  std::to_string(lim.max_items) + ")");
                // Each element takes three bytes at least ("+\r\n").
                if (n > (lim.max_reply - pos) / 3) return too_long();
                v.type = Value::Type::array;
                if (n > 0) {
                    open.push_back({std::move(v), static_cast<std::size_t>(n)});
                    continue;
                }
                break;
            }
            default: return refuse("unexpected reply type " + shown(std::string_view(&type, 1)));
        }
        // `v` is whole: into its array, and each array it completes into its own.
        for (;;) {
            if (open.empty()) {
                used = pos;
                return v;
            }
            Open& top = open.back();
            top.array.items.push_back(std::move(v));
            if (--top.left > 0) break;
            v = std::move(top.array);
            open.pop_back();
        }
    }
}

}  // namespace vigil::core::resp
