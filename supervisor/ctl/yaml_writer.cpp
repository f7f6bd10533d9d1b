#include "supervisor/ctl/yaml_writer.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace vigil::yaml {
namespace {

void append_hex(std::string& out, char kind, std::uint32_t cp, int digits) {
    static const char* hex = "0123456789ABCDEF";
    out += '\\';
    out += kind;
    for (int i = digits - 1; i >= 0; --i) out += hex[(cp >> (4 * i)) & 0xF];
}

// Decodes one UTF-8 sequence at s[i]; 0xFFFFFFFF (and one byte consumed)
// when it is not valid UTF-8 (overlong, surrogate, truncated, > U+10FFFF).
std::uint32_t decode(std::string_view s, std::size_t& i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
        ++i;
        return 0xFFFFFFFF;
    }
    std::uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) {
            ++i;
            return 0xFFFFFFFF;
        }
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    static const std::uint32_t min_of[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_of[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        ++i;
        return 0xFFFFFFFF;
    }
    i += len;
    return cp;
}

// YAML's c-printable, minus the characters YAML 1.1 parsers treat as line
// breaks (NEL, LS, PS), which would be folded inside a quoted scalar.
bool printable(std::uint32_t cp) {
    return (cp >= 0x20 && cp <= 0x7E) || (cp >= 0xA0 && cp <= 0xD7FF && cp != 0x2028 && cp != 0x2029) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

bool safe_key(std::string_view k) {
    if (k.empty() || !std::isalnum(static_cast<unsigned char>(k[0]))) return false;
    if (!std::all_of(k.begin(), k.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/';
        }))
        return false;
    std::string lower(k);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    // YAML 1.1 reads these as booleans and null, even as keys.
    for (const char* word : {"y", "n", "yes", "no", "true", "false", "on", "off", "null"})
        if (lower == word) return false;
    return true;
}

std::string key_text(const std::string& k) { return safe_key(k) ? k : quote(k); }

std::string one_line(std::string_view s) {
    std::string out(s);
    std::replace_if(out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    return out;
}

std::string scalar(const Node& n) {
    std::string out = n.type == Node::Type::str ? quote(n.text) : n.text;
    if (!n.comment.empty()) out += "  # " + one_line(n.comment);
    return out;
}

bool is_scalar(const Node& n) { return n.type != Node::Type::map && n.type != Node::Type::list; }
bool is_empty(const Node& n) { return n.type == Node::Type::map ? n.entries.empty() : n.items.empty(); }

void emit(const Node& n, int indent, bool inline_first, std::string& out);

// After "key:" or "- ": the value on this line, or on the next ones.
void emit_value(const Node& v, int indent, std::string& out) {
    if (is_scalar(v)) out += " " + scalar(v) + "\n";
    else if (is_empty(v)) out += v.type == Node::Type::map ? " {}\n" : " []\n";
    else {
        out += "\n";
        // Lists under a key sit at the key's column (kubectl's style).
        emit(v, v.type == Node::Type::list ? indent : indent + 2, false, out);
    }
}

void emit(const Node& n, int indent, bool inline_first, std::string& out) {
    const std::string pad(static_cast<std::size_t>(indent), ' ');
    bool first = true;
    if (n.type == Node::Type::map) {
        for (const auto& [k, v] : n.entries) {
            if (!(first && inline_first)) out += pad;
            first = false;
            out += key_text(k) + ":";
            emit_value(v, indent, out);
        }
        return;
    }
    for (const auto& item : n.items) {
        if (!(first && inline_first)) out += pad;
        first = false;
        out += "-";
        if (item.type == Node::Type::map && !item.entries.empty()) {
            out += " ";
            emit(item, indent + 2, true, out);
        } else if (item.type == Node::Type::list && !item.items.empty()) {
            out += "\n";
            emit(item, indent + 2, false, out);
        } else {
            emit_value(item, indent, out);
        }
    }
}

}  // namespace

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size();) {
        const char c = s[i];
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
            ++i;
            continue;
        }
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        if (c == '\n' || c == '\t' || c == '\r') {
            ++i;
            continue;
        }
        const std::size_t start = i;
        const std::uint32_t cp = decode(s, i);
        if (cp == 0xFFFFFFFF) out += "\\uFFFD";
        else if (printable(cp)) out.append(s.substr(start, i - start));
        else if (cp <= 0xFF) append_hex(out, 'x', cp, 2);
        else if (cp <= 0xFFFF) append_hex(out, 'u', cp, 4);
        else append_hex(out, 'U', cp, 8);
    }
    return out + "\"";
}

std::string to_yaml(const Node& root) {
    std::string out;
    if (is_scalar(root)) return scalar(root) + "\n";
    if (is_empty(root)) return root.type == Node::Type::map ? "{}\n" : "[]\n";
    emit(root, 0, false, out);
    return out;
}

std::string comment_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) {
        std::size_t from = 0;
        while (true) {
            const std::size_t nl = l.find('\n', from);
            const std::string part = one_line(l.substr(from, nl == std::string::npos ? std::string::npos : nl - from));
            out += part.empty() ? "#\n" : "# " + part + "\n";
            if (nl == std::string::npos) break;
            from = nl + 1;
        }
    }
    return out;
}

}  // namespace vigil::yaml
