#include "proxy/http_parse.hpp"

#include <cstring>

#include "common/percent.hpp"

namespace vigil::proxy {
namespace {

constexpr std::array<bool, 256> make_tchar() {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
    return t;
}
constexpr auto tchar = make_tchar();

// Field values and reason phrases: VCHAR, SP, HTAB, obs-text; never a CTL.
inline bool value_char(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7f); }

using vigil::hex_digit;  // common/percent.hpp

enum class LineRes { ok, incomplete, bad };

// The next CRLF-terminated line; a LF without its CR is refused.
inline LineRes next_line(const char*& p, const char* end, std::string_view& line) noexcept {
    const void* found = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
    if (!found) return LineRes::incomplete;
    const char* lf = static_cast<const char*>(found);
    if (lf == p || lf[-1] != '\r') return LineRes::bad;
    line = std::string_view(p, static_cast<std::size_t>(lf - 1 - p));
    p = lf + 1;
    return LineRes::ok;
}

inline bool parse_digits(std::string_view v, std::uint64_t& out) noexcept {
    if (v.empty() || v.size() > 18) return false;  // 18 digits cannot overflow
    std::uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    out = n;
    return true;
}

// True when [p, p + n) holds only value bytes. Eight at a time: a word
// with no byte below 0x20 and none equal to 0x7f is clean (the classic
// "has a byte less than" / "has a zero byte" tests, exact as to whether any
// byte matches); only a word that may hold one (an HTAB does too) is looked
// at byte by byte. This check was a seventh of the proxy's instructions.
inline bool clean_value(const char* p, std::size_t n) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        const std::uint64_t del = w ^ (ones * 0x7f);
        if ((((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs) {
            for (std::size_t k = i; k < i + 8; ++k)
                if (!value_char(static_cast<unsigned char>(p[k]))) return false;
        }
    }
    for (; i < n; ++i)
        if (!value_char(static_cast<unsigned char>(p[i]))) return false;
    return true;
}

// Splits one field line into name and trimmed value; refuses obs-fold,
// whitespace before the colon and CTL bytes.
inline bool split_field(std::string_view line, Header& h) noexcept {
    std::size_t i = 0;
    while (i < line.size() && tchar[static_cast<unsigned char>(line[i])]) ++i;
    if (i == 0 || i >= line.size() || line[i] != ':') return false;
    h.name = line.substr(0, i);
    std::size_t b = i + 1, e = line.size();
    while (b < e && (line[b] == ' ' || line[b] == '\t')) ++b;
    while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\t')) --e;
    if (!clean_value(line.data() + b, e - b)) return false;
    h.value = line.substr(b, e - b);
    return true;
}

// Field-line loop shared by requests and responses. Calls on_field for each
// field; stops at the blank line. Returns how far it got through `p`.
template <class OnField>
ParseResult parse_fields(const char*& p, const char* end, std::size_t max_fields,
                         std::array<Header, max_headers>& headers, std::size_t& count,
                         const char*& error, OnField&& on_field) noexcept {
    count = 0;
    for (;;) {
        std::string_view line;
        switch (next_line(p, end, line)) {
            case LineRes::incomplete: return ParseResult::incomplete;
            case LineRes::bad: error = "bare LF"; return ParseResult::bad_request;
            case LineRes::ok: break;
        }
        if (line.empty()) return ParseResult::ok;
        if (count == max_fields) { error = "too many header fields"; return ParseResult::too_large; }
        Header& h = headers[count];
        if (!split_field(line, h)) { error = "malformed header field"; return ParseResult::bad_request; }
        ++count;
        ParseResult r = on_field(h);
        if (r != ParseResult::ok) return r;
    }
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if ((a[i] | 0x20) != (b[i] | 0x20)) return false;  // ASCII letters; tokens only
    return true;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (iequals(item, token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

bool RequestHead::idempotent() const noexcept {
    switch (method.size()) {
        case 3: return method == "GET" || method == "PUT";
        case 4: return method == "HEAD";
        case 5: return method == "TRACE";
        case 6: return method == "DELETE";
        case 7: return method == "OPTIONS";
        default: return false;
    }
}

ParseResult validate_request(std::string_view bytes, std::size_t max_head, RequestHead& out) noexcept {
    out.error = nullptr;
    const char* const begin = bytes.data();
    const char* p = begin;
    // A head that cannot end within the limit is refused even while incomplete.
    const char* end = begin + (bytes.size() < max_head ? bytes.size() : max_head);

    for (int i = 0; i < 4 && end - p >= 2 && p[0] == '\r' && p[1] == '\n'; ++i) p += 2;

    std::string_view line;
    switch (next_line(p, end, line)) {
        case LineRes::incomplete:
            if (bytes.size() >= max_head) { out.error = "request line too long"; return ParseResult::too_large; }
            return ParseResult::incomplete;
        case LineRes::bad: out.error = "bare LF"; return ParseResult::bad_request;
        case LineRes::ok: break;
    }

    // request-line = method SP request-target SP HTTP-version
    std::size_t i = 0;
    while (i < line.size() && tchar[static_cast<unsigned char>(line[i])]) ++i;
    if (i == 0 || i >= line.size() || line[i] != ' ') { out.error = "bad method"; return ParseResult::bad_request; }
    out.method = line.substr(0, i);
    std::size_t t = ++i;
    while (i < line.size() && static_cast<unsigned char>(line[i]) > 0x20 && static_cast<unsigned char>(line[i]) < 0x7f) ++i;
    if (i == t || i >= line.size() || line[i] != ' ') { out.error = "bad request target"; return ParseResult::bad_request; }
    out.target = line.substr(t, i - t);
    std::string_view version = line.substr(i + 1);
    if (version == "HTTP/1.1") out.version_minor = 1;
    else if (version == "HTTP/1.0") out.version_minor = 0;
    else { out.error = "bad HTTP version"; return ParseResult::bad_request; }
    // Origin form, or "*" for OPTIONS. No absolute form: this is not a forward proxy.
    if (out.target[0] != '/' && !(out.target == "*" && out.method == "OPTIONS")) {
        out.error = "request target is not origin-form";
        return ParseResult::bad_request;
    }

    bool seen_cl = false, seen_te = false;
    int hosts = 0;
    out.body = BodyKind::none;
    out.content_length = 0;
    out.expect_continue = false;
    out.connection = {};
    out.request_id = {};
    out.forwarded_for = {};
    out.forwarded = {};
    bool expect_other = false;

    ParseResult r = parse_fields(p, end, max_headers, out.headers, out.header_count, out.error,
        [&](const Header& h) noexcept {
            const auto& n = h.name;
            switch (n.size()) {
                case 4:
                    if (iequals(n, "host")) ++hosts;
                    break;
                case 6:
                    // RFC 9110 10.1.1: an HTTP/1.0 request's expectation is ignored
                    // (a 1.0 client cannot read a 100 Continue).
                    if (out.version_minor == 1 && iequals(n, "expect")) {
                        if (iequals(h.value, "100-continue")) out.expect_continue = true;
                        else expect_other = true;
                    }
                    break;
                case 10:
                    if (iequals(n, "connection")) {
                        if (!out.connection.empty()) { out.error = "repeated Connection"; return ParseResult::bad_request; }
                        out.connection = h.value;
                    }
                    break;
                case 9:
                    if (iequals(n, "forwarded")) {
                        if (!out.forwarded.empty()) { out.error = "repeated Forwarded"; return ParseResult::bad_request; }
                        out.forwarded = h.value;
                    }
                    break;
                case 12:
                    if (iequals(n, "x-request-id")) out.request_id = h.value;
                    break;
                case 14:
                    if (iequals(n, "content-length")) {
                        if (seen_cl) { out.error = "repeated Content-Length"; return ParseResult::bad_request; }
                        seen_cl = true;
                        if (!parse_digits(h.value, out.content_length)) { out.error = "bad Content-Length"; return ParseResult::bad_request; }
                    }
                    break;
                case 15:
                    if (iequals(n, "x-forwarded-for")) {
                        if (!out.forwarded_for.empty()) { out.error = "repeated X-Forwarded-For"; return ParseResult::bad_request; }
                        out.forwarded_for = h.value;
                    }
                    break;
                case 17:
                    if (iequals(n, "transfer-encoding")) {
                        if (seen_te) { out.error = "repeated Transfer-Encoding"; return ParseResult::bad_request; }
                        seen_te = true;
                        if (!iequals(h.value, "chunked")) { out.error = "unsupported Transfer-Encoding"; return ParseResult::bad_request; }
                    }
                    break;
                default: break;
            }
            return ParseResult::ok;
        });
    if (r == ParseResult::incomplete && bytes.size() >= max_head) {
        out.error = "request head too large";
        return ParseResult::too_large;
    }
    if (r != ParseResult::ok) return r;
    out.head_size = static_cast<std::size_t>(p - begin);

    if (seen_cl && seen_te) { out.error = "both Content-Length and Transfer-Encoding"; return ParseResult::bad_request; }
    if (seen_te && out.version_minor == 0) { out.error = "Transfer-Encoding in HTTP/1.0"; return ParseResult::bad_request; }
    if (out.version_minor == 1 ? hosts != 1 : hosts > 1) { out.error = "missing or repeated Host"; return ParseResult::bad_request; }
    // A field that frames the message is never hop-by-hop: a proxy that drops
    // it on the client's say-so relays a body the upstream then reads as a
    // second request (smuggling). Refused rather than ignored, so the client
    // learns at once that its request is malformed.
    if (!out.connection.empty() &&
        (has_token(out.connection, "content-length") || has_token(out.connection, "transfer-encoding") ||
         has_token(out.connection, "host"))) {
        out.error = "Connection names a framing field";
        return ParseResult::bad_request;
    }
    if (expect_other) { out.error = "unsupported Expect"; return ParseResult::expectation_failed; }
    if (seen_te) out.body = BodyKind::chunked;
    else if (seen_cl && out.content_length > 0) out.body = BodyKind::length;
    out.keep_alive = out.version_minor == 1 ? !has_token(out.connection, "close")
                                            : has_token(out.connection, "keep-alive");
    return ParseResult::ok;
}

ParseResult parse_response(std::string_view bytes, std::size_t max_head, bool head_request,
                           ResponseHead& out) noexcept {
    out.error = nullptr;
    const char* const begin = bytes.data();
    const char* p = begin;
    const char* end = begin + (bytes.size() < max_head ? bytes.size() : max_head);
    std::string_view line;
    switch (next_line(p, end, line)) {
        case LineRes::incomplete:
            if (bytes.size() >= max_head) { out.error = "status line too long"; return ParseResult::too_large; }
            return ParseResult::incomplete;
        case LineRes::bad: out.error = "bare LF"; return ParseResult::bad_request;
        case LineRes::ok: break;
    }
    // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ') {
        out.error = "bad status line";
        return ParseResult::bad_request;
    }
    out.version_minor = line[7] - '0';
    int status = 0;
    for (int k = 9; k < 12; ++k) {
        if (line[k] < '0' || line[k] > '9') { out.error = "bad status code"; return ParseResult::bad_request; }
        status = status * 10 + (line[k] - '0');
    }
    if (status < 100 || (line.size() > 12 && line[12] != ' ')) { out.error = "bad status code"; return ParseResult::bad_request; }
    for (std::size_t k = 13; k < line.size(); ++k)
        if (!value_char(static_cast<unsigned char>(line[k]))) { out.error = "bad reason phrase"; return ParseResult::bad_request; }
    out.status = status;

    bool seen_cl = false, seen_te = false, chunked = false, close = false, keep_alive = false;
    ParseResult r = parse_fields(p, end, max_headers, out.headers, out.header_count, out.error,
        [&](const Header& h) noexcept {
            if (h.name.size() == 14 && iequals(h.name, "content-length")) {
                if (seen_cl) { out.error = "repeated Content-Length"; return ParseResult::bad_request; }
                seen_cl = true;
                if (!parse_digits(h.value, out.content_length)) { out.error = "bad Content-Length"; return ParseResult::bad_request; }
            } else if (h.name.size() == 17 && iequals(h.name, "transfer-encoding")) {
                if (seen_te) { out.error = "repeated Transfer-Encoding"; return ParseResult::bad_request; }
                seen_te = true;
                chunked = iequals(h.value, "chunked");
            } else if (h.name.size() == 10 && iequals(h.name, "connection")) {
                close = close || has_token(h.value, "close");
                keep_alive = keep_alive || has_token(h.value, "keep-alive");
            }
            return ParseResult::ok;
        });
    if (r == ParseResult::incomplete && bytes.size() >= max_head) {
        out.error = "response head too large";
        return ParseResult::too_large;
    }
    if (r != ParseResult::ok) return r;
    out.head_size = static_cast<std::size_t>(p - begin);
    if (seen_cl && seen_te) { out.error = "both Content-Length and Transfer-Encoding"; return ParseResult::bad_request; }

    out.keep_alive = out.version_minor == 1 ? !close : keep_alive && !close;
    if (head_request || status < 200 || status == 204 || status == 304) {
        out.body = BodyKind::none;
    } else if (seen_te) {
        out.body = chunked ? BodyKind::chunked : BodyKind::until_close;
    } else if (seen_cl) {
        out.body = out.content_length ? BodyKind::length : BodyKind::none;
    } else {
        out.body = BodyKind::until_close;
    }
    if (out.body == BodyKind::until_close) out.keep_alive = false;
    return ParseResult::ok;
}

ChunkedScanner::Status ChunkedScanner::feed(const char* data, std::size_t n, std::size_t& used) noexcept {
    std::size_t i = 0;
    while (i < n) {
        const unsigned char c = static_cast<unsigned char>(data[i]);
        switch (state_) {
            case State::size_first: {
                int v = hex_digit(c);
                if (v < 0) return Status::bad;
                chunk_ = static_cast<std::uint64_t>(v);
                digits_ = 1;
                state_ = State::size;
                break;
            }
            case State::size: {
                int v = hex_digit(c);
                if (v >= 0) {
                    if (++digits_ > 15) return Status::bad;
                    chunk_ = chunk_ * 16 + static_cast<std::uint64_t>(v);
                } else if (c == '\r') {
                    state_ = State::size_lf;
                } else if (c == ';') {
                    state_ = State::ext;
                } else if (c == ' ' || c == '\t') {
                    state_ = State::size_ws;
                } else {
                    return Status::bad;
                }
                break;
            }
            // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ):
            // anything else on the size line is refused, not relayed for the
            // upstream to read its own way.
            case State::size_ws:  // BWS after the size or an extension: only before a ';'
                if (c == ';') state_ = State::ext;
                else if (c != ' ' && c != '\t') return Status::bad;
                break;
            case State::ext_done:  // right after a quoted value
                if (c == ';') state_ = State::ext;
                else if (c == '\r') state_ = State::size_lf;
                else if (c == ' ' || c == '\t') state_ = State::size_ws;
                else return Status::bad;
                break;
            case State::ext:  // after ';': BWS, then a name
                if (tchar[c]) state_ = State::ext_name;
                else if (c != ' ' && c != '\t') return Status::bad;
                break;
            case State::ext_name:
                if (c == '=') state_ = State::ext_eq;
                else if (c == ';') state_ = State::ext;
                else if (c == '\r') state_ = State::size_lf;
                else if (c == ' ' || c == '\t') state_ = State::ext_name_ws;
                else if (!tchar[c]) return Status::bad;
                break;
            case State::ext_name_ws:
                if (c == '=') state_ = State::ext_eq;
                else if (c == ';') state_ = State::ext;
                else if (c != ' ' && c != '\t') return Status::bad;
                break;
            case State::ext_eq:  // after '=': BWS, then a token or a quoted string
                if (c == '"') state_ = State::ext_quoted;
                else if (tchar[c]) state_ = State::ext_value;
                else if (c != ' ' && c != '\t') return Status::bad;
                break;
            case State::ext_value:
                if (c == ';') state_ = State::ext;
                else if (c == '\r') state_ = State::size_lf;
                else if (c == ' ' || c == '\t') state_ = State::size_ws;
                else if (!tchar[c]) return Status::bad;
                break;
            case State::ext_quoted:
                if (c == '"') state_ = State::ext_done;
                else if (c == '\\') state_ = State::ext_escape;
                else if (!value_char(c)) return Status::bad;
                break;
            case State::ext_escape:
                if (!value_char(c)) return Status::bad;
                state_ = State::ext_quoted;
                break;
            case State::size_lf:
                if (c != '\n') return Status::bad;
                if (chunk_ == 0) {
                    state_ = State::trailer_start;
                } else {
                    total_ += chunk_;
                    if (total_ > max_body_) return Status::too_large;
                    state_ = State::data;
                }
                break;
            case State::data: {
                std::size_t take = n - i < chunk_ ? n - i : static_cast<std::size_t>(chunk_);
                chunk_ -= take;
                i += take;
                if (chunk_ == 0) state_ = State::data_cr;
                continue;
            }
            case State::data_cr:
                if (c != '\r') return Status::bad;
                state_ = State::data_lf;
                break;
            case State::data_lf:
                if (c != '\n') return Status::bad;
                state_ = State::size_first;
                break;
            case State::trailer_start:
                if (c == '\r') {
                    state_ = State::final_lf;
                } else if (tchar[c]) {
                    state_ = State::trailer_name;
                    name_len_ = 0;
                    name_[name_len_++] = static_cast<char>(c);
                } else {
                    return Status::bad;
                }
                break;
            case State::trailer_name:  // a field name, then ':' at once (no space before it)
                if (c == ':') {
                    // A field that frames, routes or controls the connection
                    // has no place in a trailer (RFC 9110 §6.5.1): an upstream
                    // that merges trailers into the head would read the body
                    // again, and parsers refuse such fields outright.
                    const std::string_view name(name_, name_len_ <= sizeof name_ ? name_len_ : 0);
                    static constexpr std::string_view forbidden[] = {
                        "content-length", "transfer-encoding", "host", "connection", "proxy-connection",
                        "keep-alive",     "te",                "upgrade", "trailer"};
                    for (std::string_view f : forbidden)
                        if (iequals(name, f)) return Status::bad;
                    state_ = State::trailer;
                } else if (!tchar[c]) {
                    return Status::bad;
                } else if (name_len_ < sizeof name_) {
                    name_[name_len_++] = static_cast<char>(c);
                } else {
                    name_len_ = sizeof name_ + 1;  // longer than any name checked
                }
                break;
            case State::trailer:
                if (c == '\r') state_ = State::trailer_lf;
                else if (!value_char(c)) return Status::bad;
                break;
            case State::trailer_lf:
                if (c != '\n') return Status::bad;
                state_ = State::trailer_start;
                break;
            case State::final_lf:
                if (c != '\n') return Status::bad;
                used = i + 1;
                return Status::done;
        }
        ++i;
    }
    used = n;
    return Status::more;
}

}  // namespace vigil::proxy
