// The XML side of XML-RPC. Parsing is expat's (a streaming parser that never
// builds a tree, so a large request costs its values and nothing more);
// this file only checks that elements come where the spec puts them and
// turns scalars into Values. Writing is plain appends: the shapes are fixed.
#include <expat.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "supervisor/xmlrpc/value.hpp"

namespace vigil::supervisor::xmlrpc {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::strchr(" \t\r\n", s.front())) s.remove_prefix(1);
    while (!s.empty() && std::strchr(" \t\r\n", s.back())) s.remove_suffix(1);
    return s;
}

bool parse_int(std::string_view text, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
    text = trim(text);
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) return false;
    out = v;
    return true;
}

bool base64_decode(std::string_view in, std::string& out) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    unsigned acc = 0;
    int bits = 0;
    bool padding = false;
    for (char c : in) {
        if (std::strchr(" \t\r\n", c)) continue;
        if (c == '=') {
            padding = true;
            continue;
        }
        const int v = val(c);
        if (v < 0 || padding) return false;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return true;
}

// Where each element may appear: its parent's name ("" for the root).
bool allowed_under(std::string_view el, std::string_view parent) {
    if (el == "methodCall") return parent.empty();
    if (el == "methodName" || el == "params") return parent == "methodCall";
    if (el == "param") return parent == "params";
    if (el == "value") return parent == "param" || parent == "member" || parent == "data";
    if (el == "member") return parent == "struct";
    if (el == "name") return parent == "member";
    if (el == "data") return parent == "array";
    static constexpr std::string_view kTyped[] = {"i4",     "int",    "i8",  "boolean", "string", "double",
                                                  "dateTime.iso8601", "base64", "nil", "struct", "array"};
    for (auto t : kTyped)
        if (el == t) return parent == "value";
    return false;
}

class Decoder {
public:
    Decoder() : parser_(XML_ParserCreate("UTF-8")) {
        XML_SetUserData(parser_, this);
        XML_SetElementHandler(parser_, &Decoder::on_start, &Decoder::on_end);
        XML_SetCharacterDataHandler(parser_, &Decoder::on_text);
        XML_SetStartDoctypeDeclHandler(parser_, &Decoder::on_doctype);
    }
    ~Decoder() { XML_ParserFree(parser_); }
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    std::optional<Call> run(std::string_view body, std::string& error) {
        if (!parser_) return error = "out of memory", std::nullopt;
        if (body.size() > kMaxBody) return error = "request body over " + std::to_string(kMaxBody) + " bytes", std::nullopt;
        const auto status = XML_Parse(parser_, body.data(), static_cast<int>(body.size()), XML_TRUE);
        if (!error_.empty()) return error = error_, std::nullopt;
        if (status != XML_STATUS_OK) {
            error = "malformed XML at line " + std::to_string(XML_GetCurrentLineNumber(parser_)) + ": " +
                    XML_ErrorString(XML_GetErrorCode(parser_));
            return std::nullopt;
        }
        if (!seen_name_) return error = "no methodName in the request", std::nullopt;
        return std::move(call_);
    }

private:
    static void on_start(void* self, const XML_Char* name, const XML_Char**) {
        static_cast<Decoder*>(self)->start(name);
    }
    static void on_end(void* self, const XML_Char* name) { static_cast<Decoder*>(self)->end(name); }
    static void on_text(void* self, const XML_Char* s, int len) {
        auto* d = static_cast<Decoder*>(self);
        if (d->text_.size() + static_cast<std::size_t>(len) > kMaxBody) return d->fail("text too long");
        d->text_.append(s, static_cast<std::size_t>(len));
    }
    static void on_doctype(void* self, const XML_Char*, const XML_Char*, const XML_Char*, int) {
        static_cast<Decoder*>(self)->fail("a DOCTYPE is not allowed in XML-RPC");
    }

    void fail(std::string why) {
        if (error_.empty()) error_ = std::move(why);
        XML_StopParser(parser_, XML_FALSE);
    }

    void start(std::string_view el) {
        if (!error_.empty()) return;
        const std::string_view parent = elements_.empty() ? std::string_view() : elements_.back();
        if (!allowed_under(el, parent))
            return fail("unexpected <" + std::string(el) + ">" +
                        (parent.empty() ? std::string() : " inside <" + std::string(parent) + ">"));
        if (el == "value") {
            if (static_cast<int>(values_.size()) >= kMaxDepth)
                return fail("values nested deeper than " + std::to_string(kMaxDepth));
            values_.emplace_back();
            typed_.push_back(false);
        } else if (parent == "value") {
            if (typed_.back()) return fail("a <value> holds one typed element");
            typed_.back() = true;
            if (el == "struct") values_.back().type = Value::Type::structure;
            if (el == "array") values_.back().type = Value::Type::array;
        } else if (el == "member") {
            member_names_.emplace_back();
        }
        elements_.emplace_back(el);
        text_.clear();
    }

    void end(std::string_view el) {
        if (!error_.empty()) return;
        elements_.pop_back();
        const std::string_view parent = elements_.empty() ? std::string_view() : elements_.back();
        if (el == "methodName") {
            call_.method = std::string(trim(text_));
            seen_name_ = true;
        } else if (el == "name") {
            member_names_.back() = text_;
        } else if (el == "member") {
            if (!member_done_) return fail("a <member> needs a <value>");
            member_done_ = false;
            member_names_.pop_back();
        } else if (el == "value") {
            Value v = std::move(values_.back());
            const bool typed = typed_.back();
            values_.pop_back();
            typed_.pop_back();
            if (!typed) v = Value::string(text_);  // an untyped value is a string
            if (parent == "param") call_.params.push_back(std::move(v));
            else if (parent == "data") values_.back().items.push_back(std::move(v));
            else if (parent == "member") {
                values_.back().members.emplace_back(member_names_.back(), std::move(v));
                member_done_ = true;
            }
        } else if (parent == "value") {
            scalar(el, values_.back());
        }
        text_.clear();
    }

    void scalar(std::string_view el, Value& v) {
        if (el == "struct" || el == "array") return;
        if (el == "i4" || el == "int" || el == "i8") {
            const bool wide = el == "i8";
            v.type = Value::Type::integer;
            if (!parse_int(text_, wide ? INT64_MIN : INT32_MIN, wide ? INT64_MAX : INT32_MAX, v.i))
                return fail("<" + std::string(el) + "> holds no integer in range");
        } else if (el == "boolean") {
            const auto t = trim(text_);
            if (t != "0" && t != "1") return fail("<boolean> must hold 0 or 1");
            v = Value::boolean(t == "1");
        } else if (el == "double") {
            const std::string t(trim(text_));
            char* end = nullptr;
            errno = 0;
            v.type = Value::Type::dbl;
            v.d = std::strtod(t.c_str(), &end);
            if (t.empty() || *end || errno == ERANGE || !std::isfinite(v.d)) return fail("<double> holds no number");
        } else if (el == "string") {
            v = Value::string(text_);
        } else if (el == "base64") {
            v.type = Value::Type::base64;
            if (!base64_decode(text_, v.s)) return fail("<base64> is not base64");
        } else if (el == "dateTime.iso8601") {
            v.type = Value::Type::datetime;
            v.s = std::string(trim(text_));
        } else if (el == "nil") {
            v.type = Value::Type::nil;
        }
    }

    XML_Parser parser_;
    std::string error_;
    std::vector<std::string> elements_;
    std::vector<Value> values_;
    std::vector<bool> typed_;
    std::vector<std::string> member_names_;
    bool member_done_ = false;
    std::string text_;
    Call call_;
    bool seen_name_ = false;
};

// Text as XML 1.0 allows it: escaped, valid UTF-8, no control characters.
// Logs and names come from programs and clients; a byte the client's parser
// refuses would turn a good answer into a protocol error, so it becomes
// U+FFFD instead.
void append_text(std::string_view s, std::string& out) {
    static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c == '&') out += "&amp;";
            else if (c == '<') out += "&lt;";
            else if (c == '>') out += "&gt;";
            else if (c == '\r') out += "&#13;";
            else if (c < 0x20 && c != '\t' && c != '\n') out += kReplacement;
            else out += static_cast<char>(c);
            ++i;
            continue;
        }
        const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        std::uint32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0F : c & 0x1F;
        bool ok = len > 0 && len <= 4 && c < 0xF5 && i + len <= s.size();
        for (std::size_t k = 1; ok && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            ok = (cc & 0xC0) == 0x80;
            cp = (cp << 6) | (cc & 0x3F);
        }
        ok = ok && !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
             !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE && cp != 0xFFFF;
        if (ok) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += kReplacement;
            ++i;
        }
    }
}

void append_base64(std::string_view in, std::string& out) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(n >> k) & 63];
    }
    if (i < in.size()) {
        unsigned n = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
}

}  // namespace

const char* type_name(Value::Type t) {
    switch (t) {
        case Value::Type::nil: return "nil";
        case Value::Type::boolean: return "boolean";
        case Value::Type::integer: return "int";
        case Value::Type::dbl: return "double";
        case Value::Type::string: return "string";
        case Value::Type::base64: return "base64";
        case Value::Type::datetime: return "dateTime.iso8601";
        case Value::Type::array: return "array";
        case Value::Type::structure: return "struct";
    }
    return "?";
}

std::optional<Call> decode_call(std::string_view body, std::string& error) {
    Decoder d;
    return d.run(body, error);
}

void encode_value(const Value& v, std::string& out) {
    out += "<value>";
    switch (v.type) {
        case Value::Type::nil: out += "<nil/>"; break;
        case Value::Type::boolean: out += v.b ? "<boolean>1</boolean>" : "<boolean>0</boolean>"; break;
        case Value::Type::integer: {
            // Python's client reads <i8> too, but older clients know only <int>.
            const bool wide = v.i < INT32_MIN || v.i > INT32_MAX;
            out += wide ? "<i8>" : "<int>";
            out += std::to_string(v.i);
            out += wide ? "</i8>" : "</int>";
            break;
        }
        case Value::Type::dbl: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.17g", v.d);
            out += "<double>";
            out += buf;
            out += "</double>";
            break;
        }
        case Value::Type::string:
            out += "<string>";
            append_text(v.s, out);
            out += "</string>";
            break;
        case Value::Type::base64:
            out += "<base64>";
            append_base64(v.s, out);
            out += "</base64>";
            break;
        case Value::Type::datetime:
            out += "<dateTime.iso8601>";
            append_text(v.s, out);
            out += "</dateTime.iso8601>";
            break;
        case Value::Type::array:
            out += "<array><data>";
            for (const auto& item : v.items) encode_value(item, out);
            out += "</data></array>";
            break;
        case Value::Type::structure:
            out += "<struct>";
            for (const auto& [k, m] : v.members) {
                out += "<member><name>";
                append_text(k, out);
                out += "</name>";
                encode_value(m, out);
                out += "</member>";
            }
            out += "</struct>";
            break;
    }
    out += "</value>";
}

std::string encode_response(const Value& v) {
    std::string out = "<?xml version=\"1.0\"?>\n<methodResponse><params><param>";
    encode_value(v, out);
    out += "</param></params></methodResponse>\n";
    return out;
}

std::string encode_fault(int code, std::string_view message) {
    Value f = Value::structure();
    f.add("faultCode", Value::integer(code)).add("faultString", Value::string(std::string(message)));
    std::string out = "<?xml version=\"1.0\"?>\n<methodResponse><fault>";
    encode_value(f, out);
    out += "</fault></methodResponse>\n";
    return out;
}

}  // namespace vigil::supervisor::xmlrpc
