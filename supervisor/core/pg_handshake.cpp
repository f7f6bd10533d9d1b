#include "supervisor/core/pg_handshake.hpp"

#include <cstdint>

namespace vigil::core::pg {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
    out.push_back(static_cast<char>(v >> 24));
    out.push_back(static_cast<char>(v >> 16));
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v));
}

std::uint32_t get_u32(std::string_view s) {
    return (std::uint32_t{static_cast<unsigned char>(s[0])} << 24) |
           (std::uint32_t{static_cast<unsigned char>(s[1])} << 16) |
           (std::uint32_t{static_cast<unsigned char>(s[2])} << 8) | std::uint32_t{static_cast<unsigned char>(s[3])};
}

void put_cstring(std::string& out, std::string_view s) {
    // A NUL would end the field early and shift every later one.
    for (char c : s)
        if (c != '\0') out.push_back(c);
    out.push_back('\0');
}

// ErrorResponse: fields of one type byte and a NUL-terminated value, ended by
// a NUL type. Missing or unterminated fields stay empty.
struct ErrorFields {
    std::string_view severity, code, message;
};

ErrorFields parse_error(std::string_view body) {
    ErrorFields f;
    std::string_view localized_severity;
    while (!body.empty() && body[0] != '\0') {
        const char type = body[0];
        const std::size_t end = body.find('\0', 1);
        if (end == std::string_view::npos) break;
        const std::string_view value = body.substr(1, end - 1);
        switch (type) {
            case 'V': f.severity = value; break;  // never translated (9.6+)
            case 'S': localized_severity = value; break;
            case 'C': f.code = value; break;
            case 'M': f.message = value; break;
            default: break;
        }
        body.remove_prefix(end + 1);
    }
    if (f.severity.empty()) f.severity = localized_severity;
    return f;
}

// libpq's verbose form, "FATAL:  57P03: the database system is starting up",
// so details read as they did when the probe used libpq.
std::string error_text(const ErrorFields& f) {
    std::string out(f.severity.empty() ? "ERROR" : f.severity);
    out += ":  ";
    if (!f.code.empty()) {
        out += f.code;
        out += ": ";
    }
    out += f.message;
    return out;
}

}  // namespace

std::string startup_message(std::string_view user, std::string_view database, std::string_view application) {
    std::string body;
    put_u32(body, 3u << 16);  // protocol 3.0
    put_cstring(body, "user");
    put_cstring(body, user);
    if (!database.empty()) {
        put_cstring(body, "database");
        put_cstring(body, database);
    }
    put_cstring(body, "application_name");
    put_cstring(body, application);
    body.push_back('\0');
    std::string out;
    put_u32(out, static_cast<std::uint32_t>(body.size() + 4));
    return out + body;
}

Judgement HandshakeReader::feed(std::string_view bytes) {
    if (done_.verdict != Verdict::need_more) return done_;
    buffer_.append(bytes);
    std::string_view rest(buffer_);
    while (rest.size() >= 5) {
        const char type = rest[0];
        const std::uint32_t length = get_u32(rest.substr(1, 4));  // counts itself, not the type byte
        if (length < 4 || length > kMaxMessage) {
            done_ = {Verdict::bad_reply, "not a PostgreSQL server (message length " + std::to_string(length) + ")"};
            return done_;
        }
        if (rest.size() < 1 + std::size_t{length}) break;
        const Judgement j = judge_message(type, rest.substr(5, length - 4));
        rest.remove_prefix(1 + std::size_t{length});
        if (j.verdict != Verdict::need_more) {
            done_ = j;
            buffer_.clear();
            return done_;
        }
    }
    buffer_.erase(0, buffer_.size() - rest.size());
    return {};
}

Judgement HandshakeReader::judge_message(char type, std::string_view body) {
    switch (type) {
        case 'R': {  // Authentication*
            if (body.size() < 4) return {Verdict::bad_reply, "truncated authentication request"};
            if (get_u32(body) == 0) return {};  // AuthenticationOk: the backend is starting our session
            return {Verdict::accepting, "accepting connections (password required)"};
        }
        case 'E': {
            const ErrorFields f = parse_error(body);
            if (f.code == "57P03") return {Verdict::not_accepting, "not accepting connections: " + error_text(f)};
            return {Verdict::accepting, "accepting connections (" + error_text(f) + ")"};
        }
        case 'Z': return {Verdict::accepting, "accepting connections", true};  // ReadyForQuery
        case 'S':                                                                // ParameterStatus
        case 'K':                                                                // BackendKeyData
        case 'N':                                                                // NoticeResponse
        case 'v': return {};                                                     // NegotiateProtocolVersion
        default: break;
    }
    const auto u = static_cast<unsigned char>(type);
    if (u >= 0x20 && u < 0x7f) return {Verdict::bad_reply, std::string("unexpected message '") + type + "'"};
    static constexpr char kHex[] = "0123456789abcdef";
    return {Verdict::bad_reply, std::string("unexpected message 0x") + kHex[u >> 4] + kHex[u & 0xf]};
}

}  // namespace vigil::core::pg
