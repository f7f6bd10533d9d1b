#include "config/ini_reader.hpp"

#include <algorithm>
#include <cctype>

namespace vigil::config::ini {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string excerpt(std::string_view s) {
    s = trim(s);
    return std::string(s.size() > 60 ? s.substr(0, 60) : s);
}

// Where a comment starts on `line`, or npos. configparser looks for `;` and
// `#` in rounds, each round taking the next occurrence of each character,
// and stops after the first round in which one is at the start of the line
// or after whitespace; the earliest qualifying one of that round wins. The
// rounds are kept: a `#` that qualifies later than a `;` of an earlier round
// is not the comment, exactly as in supervisord.
std::size_t comment_start(std::string_view line) {
    static constexpr char kPrefixes[] = {';', '#'};
    std::size_t at[2] = {std::string_view::npos, std::string_view::npos};
    bool active[2] = {true, true};
    std::size_t found = std::string_view::npos;
    while (found == std::string_view::npos && (active[0] || active[1])) {
        for (int i = 0; i < 2; ++i) {
            if (!active[i]) continue;
            std::size_t from = at[i] == std::string_view::npos ? 0 : at[i] + 1;
            std::size_t index = line.find(kPrefixes[i], from);
            if (index == std::string_view::npos) {
                active[i] = false;
                continue;
            }
            at[i] = index;
            if (index == 0 || is_space(line[index - 1])) found = std::min(found, index);
        }
    }
    std::string_view stripped = trim(line);
    if (!stripped.empty() && (stripped.front() == ';' || stripped.front() == '#')) found = 0;
    return found;
}

class Reader {
public:
    Reader(std::string_view text, const std::string& file) : text_(text), file_(file) {}

    Document run() {
        std::size_t pos = 0;
        while (pos < text_.size()) {
            std::size_t eol = text_.find('\n', pos);
            std::size_t end = eol == std::string_view::npos ? text_.size() : eol;
            std::string_view raw = text_.substr(pos, end - pos);
            pos = eol == std::string_view::npos ? text_.size() : eol + 1;
            ++line_;
            if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
            if (line_ == 1 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
            read_line(raw);
        }
        return std::move(doc_);
    }

private:
    void error(std::string message) {
        doc_.errors.push_back(Error{SourceLoc{file_, line_}, std::move(message)});
        // A refused line inside a section: a key it lacks may be on that line.
        if (in_section_) doc_.sections.back().damaged = true;
    }

    Entry* current_entry() {
        if (!in_section_ || !have_key_) return nullptr;
        return &doc_.sections.back().entries.back();
    }

    void read_line(std::string_view raw) {
        if (raw.find('\0') != std::string_view::npos) {
            error("line contains a NUL byte");
            return;
        }
        const std::size_t comment = comment_start(raw);
        std::string_view value = trim(raw.substr(0, comment));
        if (value.empty()) {
            // A blank line (not a comment line) inside a value is part of it.
            if (comment == std::string_view::npos)
                if (Entry* e = current_entry()) e->parts.emplace_back();
            return;
        }
        const std::size_t indent = raw.find_first_not_of(" \t\v\f\r");
        if (current_entry() && indent > indent_level_) {
            current_entry()->parts.emplace_back(value);
            return;
        }
        indent_level_ = indent;
        if (value.front() == '[') {
            header(value);
            return;
        }
        if (bad_section_) return;  // its header's error says enough
        if (!in_section_) {
            error("'" + excerpt(value) + "' comes before any [section]");
            return;
        }
        const std::size_t delimiter = value.find_first_of("=:");
        if (delimiter == std::string_view::npos) {
            error("expected 'key = value', '[section]' or a comment, got '" + excerpt(value) + "'");
            return;
        }
        std::string_view key = trim(value.substr(0, delimiter));
        if (key.empty()) {
            error("missing key name before '=' or ':'");
            have_key_ = false;  // configparser: an empty name takes no continuation lines
            return;
        }
        Entry entry;
        entry.key.assign(key);
        std::transform(entry.key.begin(), entry.key.end(), entry.key.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        entry.parts.emplace_back(trim(value.substr(delimiter + 1)));
        entry.line = line_;
        entry.file = file_;
        doc_.sections.back().entries.push_back(std::move(entry));
        have_key_ = true;
    }

    // configparser's header is everything up to the last ']' of the line,
    // and it ignores what follows; so do we, with a warning.
    void header(std::string_view value) {
        const std::size_t close = value.rfind(']');
        if (close == std::string_view::npos) {
            error("section header is missing its closing ']': '" + excerpt(value) + "'");
            refuse_section();
            return;
        }
        std::string_view name = trim(value.substr(1, close - 1));
        if (name.empty()) {
            error("empty section header '[]'");
            refuse_section();
            return;
        }
        if (std::string_view rest = trim(value.substr(close + 1)); !rest.empty())
            doc_.warnings.push_back(Error{SourceLoc{file_, line_},
                                          "text after the section header is ignored: '" + excerpt(rest) + "'"});
        doc_.sections.push_back(Section{std::string(name), line_, {}, false});
        in_section_ = true;
        bad_section_ = false;
        have_key_ = false;
    }

    // The keys under a refused header must not land in the section before it.
    void refuse_section() {
        in_section_ = false;
        bad_section_ = true;
        have_key_ = false;
    }

    std::string_view text_;
    const std::string& file_;
    Document doc_;
    int line_ = 0;
    std::size_t indent_level_ = 0;
    bool in_section_ = false;  // the last header was accepted
    bool bad_section_ = false;  // the last header was refused
    bool have_key_ = false;    // the current section has a key that continuation lines extend
};

}  // namespace

// configparser keeps a blank line inside a value as an empty line; every
// value vigil reads treats a line break as a separator, so blank lines add
// nothing and are skipped.
std::string Entry::joined(std::string_view separator) const {
    std::string out;
    bool first = true;
    for (const auto& part : parts) {
        if (part.empty()) continue;
        if (!first) out += separator;
        out += part;
        first = false;
    }
    return out;
}

Document parse(std::string_view text, const std::string& file) noexcept {
    try {
        return Reader(text, file).run();
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
