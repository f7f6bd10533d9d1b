#include "supervisor/core/pg_query.hpp"

#include <cstdint>

namespace vigil::core::pg {
namespace {

std::uint32_t u32(std::string_view s) {
    return (std::uint32_t{static_cast<unsigned char>(s[0])} << 24) |
           (std::uint32_t{static_cast<unsigned char>(s[1])} << 16) |
           (std::uint32_t{static_cast<unsigned char>(s[2])} << 8) | std::uint32_t{static_cast<unsigned char>(s[3])};
}

// ErrorResponse fields: (code byte, C string)…, then a zero byte.
std::string error_text(std::string_view body) {
    std::string sqlstate, message;
    while (!body.empty() && body[0] != '\0') {
        const char field = body[0];
        const auto end = body.find('\0', 1);
        if (end == std::string_view::npos) break;
        const std::string_view value = body.substr(1, end - 1);
        if (field == 'C') sqlstate = value;
        else if (field == 'M') message = value;
        body.remove_prefix(end + 1);
    }
    if (message.empty()) message = "error without a message";
    return sqlstate.empty() ? message : sqlstate + ": " + message;
}

// DataRow: int16 count, then per column int32 length (-1: NULL) and bytes.
bool data_row(std::string_view body, std::vector<std::string>& row) {
    if (body.size() < 2) return false;
    const unsigned n = (unsigned{static_cast<unsigned char>(body[0])} << 8) | static_cast<unsigned char>(body[1]);
    body.remove_prefix(2);
    row.clear();
    for (unsigned i = 0; i < n; ++i) {
        if (body.size() < 4) return false;
        const std::uint32_t len = u32(body);
        body.remove_prefix(4);
        if (len == 0xffffffffu) {
            row.emplace_back();
            continue;
        }
        if (len > body.size()) return false;
        row.emplace_back(body.substr(0, len));
        body.remove_prefix(len);
    }
    return body.empty();
}

}  // namespace

std::string query_message(std::string_view sql) {
    const auto len = static_cast<std::uint32_t>(sql.size() + 5);
    std::string out{'Q'};
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((len >> shift) & 0xff));
    out.append(sql);
    out.push_back('\0');
    return out;
}

bool QueryReader::next(ServerMessage& out) {
    if (!bad_.empty()) return false;
    const std::string_view rest = std::string_view(buffer_).substr(at_);
    if (rest.size() < 5) return false;
    const std::uint32_t length = u32(rest.substr(1, 4));  // counts itself, not the type byte
    if (length < 4 || length > kMaxQueryMessage) {
        bad_ = "not a PostgreSQL server (message length " + std::to_string(length) + ")";
        return false;
    }
    if (rest.size() < 1 + std::size_t{length}) return false;
    const char type = rest[0];
    const std::string_view body = rest.substr(5, length - 4);
    out = ServerMessage{};
    switch (type) {
        case 'R':
            if (body.size() < 4) {
                bad_ = "short authentication message";
                return false;
            }
            out.code = u32(body);
            out.kind = out.code == 0 ? ServerMessage::Kind::auth_ok : ServerMessage::Kind::auth_request;
            break;
        case 'E':
            out.kind = ServerMessage::Kind::error;
            out.text = error_text(body);
            break;
        case 'D':
            if (!data_row(body, out.row)) {
                bad_ = "malformed DataRow";
                return false;
            }
            out.kind = ServerMessage::Kind::row;
            break;
        case 'Z': out.kind = ServerMessage::Kind::ready; break;
        default: break;
    }
    at_ += 1 + length;
    if (at_ == buffer_.size()) {
        buffer_.clear();
        at_ = 0;
    }
    return true;
}

}  // namespace vigil::core::pg
