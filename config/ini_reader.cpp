#include "config/ini_reader.hpp"

#include <ini.h>

#include <cctype>
#include <cstring>
#include <new>

namespace vigil::config::ini {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string_view excerpt(std::string_view s) {
    s = trim(s);
    return s.size() > 60 ? s.substr(0, 60) : s;
}

// What our reader decided about the line it last handed to inih; the
// handler, called by inih before it asks for the next line, relies on it.
enum class LineKind { other, key, continuation, skipped };

struct Parser {
    std::string_view text;
    std::size_t pos = 0;
    const std::string& file;
    Document doc;

    int line = 0;
    LineKind kind = LineKind::other;
    bool handler_called = false;  // for the current line
    bool have_prev_key = false;   // mirrors inih's prev_name: continuations need it
    bool skip_continuations = false;  // the key they belong to was refused
    bool in_bad_section = false;      // keys under a refused header add no noise
    bool failed = false;              // out of memory inside a callback

    Parser(std::string_view t, const std::string& f) : text(t), file(f) {}

    void error(int at, std::string message) {
        doc.errors.push_back(Error{SourceLoc{file, at}, std::move(message)});
    }

    // A refused line inside a section: a key it lacks may be on that line.
    void damage() {
        if (!in_bad_section && !doc.sections.empty()) doc.sections.back().damaged = true;
    }

    // inih has no error callback: a line it could not split into key and
    // value is recognised by the handler not having been called for it.
    void finish_line() {
        if (kind == LineKind::key && !handler_called) {
            error(line, "expected 'key = value', '[section]' or a comment, got '" +
                            std::string(excerpt(current)) + "'");
            damage();
            skip_continuations = true;
        }
        kind = LineKind::other;
        handler_called = false;
    }

    std::string_view current;  // the line being processed, for messages

    // Returns what inih should see for the next line, or false at the end.
    bool next_line(std::string_view& out, std::size_t limit) {
        finish_line();
        if (pos >= text.size()) return false;
        std::size_t eol = text.find('\n', pos);
        std::size_t end = eol == std::string_view::npos ? text.size() : eol;
        std::string_view raw = text.substr(pos, end - pos);
        pos = eol == std::string_view::npos ? text.size() : eol + 1;
        ++line;
        if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
        if (line == 1 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
        current = raw;
        out = classify(raw, limit);
        return true;
    }

    std::string_view classify(std::string_view raw, std::size_t limit) {
        static constexpr std::string_view kComment = ";";
        std::string_view body = raw;
        while (!body.empty() && is_space(body.front())) body.remove_prefix(1);
        bool indented = body.size() != raw.size();
        bool blank_or_comment = trim(body).empty() || body.front() == ';' || body.front() == '#';
        bool continuation = !blank_or_comment && indented && have_prev_key;

        if (raw.size() > limit || raw.find('\0') != std::string_view::npos) {
            if (raw.size() > limit)
                error(line, "line too long (" + std::to_string(raw.size()) + " characters, the limit is " +
                                std::to_string(limit) +
                                "): split it with indented continuation lines");
            else
                error(line, "line contains a NUL byte");
            // A refused key line takes its continuation lines with it, so they
            // do not end up in the previous key instead; a refused header takes
            // its keys, so they do not land in the previous section.
            if (!continuation) skip_continuations = true;
            if (!continuation && !body.empty() && body.front() == '[') in_bad_section = true;
            damage();
            kind = LineKind::skipped;
            return kComment;
        }
        if (blank_or_comment) return raw;
        // Indented lines after a refused key belong to it, even when inih
        // would not call them continuations (the key was its section's first).
        if (indented && skip_continuations) continuation = true;
        if (continuation) {
            kind = skip_continuations ? LineKind::skipped : LineKind::continuation;
            return kind == LineKind::skipped ? kComment : raw;
        }
        skip_continuations = false;
        if (body.front() == '[') {
            section_header(body);
            return raw;
        }
        kind = LineKind::key;
        return raw;
    }

    // inih accepts "[name] anything" and cuts names at 49 characters; we
    // read headers ourselves so neither goes unnoticed.
    void section_header(std::string_view body) {
        std::size_t close = body.find(']');
        // inih ends the header at an inline comment (" ;") before any ']'.
        std::size_t comment = std::string_view::npos;
        for (std::size_t i = 1; i < body.size(); ++i)
            if (body[i] == ';' && is_space(body[i - 1])) {
                comment = i;
                break;
            }
        if (close == std::string_view::npos || comment < close) {
            error(line, "section header is missing its closing ']': '" + std::string(excerpt(body)) + "'");
            in_bad_section = true;
            return;
        }
        have_prev_key = false;  // inih clears prev_name on every accepted header
        std::string_view rest = trim(body.substr(close + 1));
        if (!rest.empty() && rest.front() != ';' && rest.front() != '#') {
            error(line, "unexpected text after section header: '" + std::string(excerpt(rest)) + "'");
            in_bad_section = true;
            return;
        }
        std::string_view header = trim(body.substr(1, close - 1));
        if (header.empty()) {
            error(line, "empty section header '[]'");
            in_bad_section = true;
            return;
        }
        in_bad_section = false;
        doc.sections.push_back(Section{std::string(header), line, {}});
    }

    void on_value(const char* name, const char* value) {
        handler_called = true;
        if (kind == LineKind::continuation) {
            if (!in_bad_section && !doc.sections.empty() && !doc.sections.back().entries.empty())
                doc.sections.back().entries.back().parts.emplace_back(value);
            return;
        }
        have_prev_key = true;
        if (kind != LineKind::key) return;  // cannot happen while we mirror inih; stay safe
        if (in_bad_section) return;
        if (doc.sections.empty()) {
            error(line, std::string("key '") + name + "' comes before any [section]");
            return;
        }
        if (*name == '\0') {
            error(line, "missing key name before '=' or ':'");
            damage();
            skip_continuations = true;
            return;
        }
        doc.sections.back().entries.push_back(Entry{name, {value}, line});
    }
};

char* read_line(char* buffer, int size, void* stream) {
    auto* p = static_cast<Parser*>(stream);
    if (size < 2) return nullptr;
    std::string_view line;
    try {
        if (!p->next_line(line, static_cast<std::size_t>(size) - 1)) return nullptr;
    } catch (...) {
        p->failed = true;
        return nullptr;
    }
    std::memcpy(buffer, line.data(), line.size());
    buffer[line.size()] = '\0';
    return buffer;
}

int on_value(void* user, const char* /*section: ours is untruncated*/, const char* name, const char* value) {
    auto* p = static_cast<Parser*>(user);
    try {
        p->on_value(name, value ? value : "");
    } catch (...) {
        p->failed = true;
    }
    return 1;
}

}  // namespace

std::string Entry::joined(std::string_view separator) const {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i) out += separator;
        out += parts[i];
    }
    return out;
}

Document parse(std::string_view text, const std::string& file) noexcept {
    try {
        Parser p(text, file);
        int rc = ini_parse_stream(read_line, &p, on_value, &p);
        if (p.failed || rc == -2) {
            p.doc.errors.push_back(Error{SourceLoc{file, 0}, "out of memory while reading"});
        } else {
            p.finish_line();
        }
        return std::move(p.doc);
    } catch (...) {
        Document d;
        try {
            d.errors.push_back(Error{SourceLoc{file, 0}, "out of memory while reading"});
        } catch (...) {
        }
        return d;
    }
}

}  // namespace vigil::config::ini
