// One INI text → its sections and keys, each with the line it came from.
//
// inih (Debian r55) does the key/value splitting, inline comments and
// continuation lines, but it tells its handler neither the line number nor
// about section headers, stops reporting after the first bad line and cuts
// lines at 199 characters. So inih reads through our own line reader, which
// counts lines, sees section headers, refuses over-long lines before inih
// would cut them, and notices every line inih could not parse. The result is
// the whole file as data plus every syntax error; no key is interpreted here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"

namespace vigil::config::ini {

struct Entry {
    std::string key;
    // The value on the key's line, then one element per continuation line.
    // Kept apart so the loader chooses how a key's lines join.
    std::vector<std::string> parts;
    int line = 0;  // the line holding the key

    std::string joined(std::string_view separator) const;
};

struct Section {
    std::string header;  // the text between [ and ], trimmed
    int line = 0;
    std::vector<Entry> entries;  // in file order, duplicates kept
    bool damaged = false;        // a line in it was refused, so keys may be missing
};

struct Document {
    std::vector<Section> sections;
    std::vector<Error> errors;
};

// `file` only labels errors. Never throws.
Document parse(std::string_view text, const std::string& file) noexcept;

}  // namespace vigil::config::ini
