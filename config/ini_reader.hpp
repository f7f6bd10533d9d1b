// One INI text → its sections and keys, each with the line it came from.
//
// Reads as supervisord does: supervisord 4.2 parses with Python's
// configparser.RawConfigParser(inline_comment_prefixes=(';', '#'),
// strict=False), and this reader follows that parser line by line (Python
// 3.11's configparser._read) so a file means the same to both:
//   - no line-length limit;
//   - keys are lowercased; section headers keep their case;
//   - `;` or `#` starts a comment at the start of a line, or inline when
//     whitespace comes before it (`a;b` stays a value);
//   - a line indented deeper than its key's line continues that key's value;
//     blank and comment lines between continuation lines do not end it;
//   - `key = value` or `key: value`, split at the first `=` or `:`.
// Keys set twice and sections repeated are all kept here, in file order: the
// loader decides (the last value wins, repeated sections merge). No key is
// interpreted here. Differences, all refusals of lines supervisord would
// misread: a '[' line without ']' and a NUL byte are errors (configparser
// would take "[program:x" as a key named "[program").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"

namespace vigil::config::ini {

struct Entry {
    std::string key;  // lowercased
    // The value on the key's line, then one element per continuation line
    // (an empty element for a blank line inside the value). Kept apart so
    // the loader chooses how a key's lines join.
    std::vector<std::string> parts;
    int line = 0;      // the line holding the key
    std::string file;  // the file it came from: a merged section spans files
    std::string here;  // that file's directory, for %(here)s; set by the loader

    std::string joined(std::string_view separator) const;
};

struct Section {
    std::string header;  // the text between [ and the last ], trimmed
    int line = 0;
    std::vector<Entry> entries;  // in file order, duplicates kept
    bool damaged = false;        // a line in it was refused, so keys may be missing
};

struct Document {
    std::vector<Section> sections;
    std::vector<Error> errors;
    std::vector<Error> warnings;  // accepted, but probably not what was meant
};

// `file` labels errors and entries. Never throws.
Document parse(std::string_view text, const std::string& file) noexcept;

}  // namespace vigil::config::ini
