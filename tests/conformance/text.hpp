// Small text helpers shared by the suite's client and recording backend.
#pragma once

#include <cctype>
#include <string>

namespace conformance {

inline std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Without leading and trailing spaces and tabs (optional whitespace, RFC 9110 5.6.3).
inline std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// At most `limit` bytes of `bytes` for a message: CR and LF escaped, other
// control bytes as '?'.
inline std::string printable(const std::string& bytes, std::size_t limit) {
    std::string out;
    for (char ch : bytes.substr(0, limit)) {
        if (ch == '\r') out += "\\r";
        else if (ch == '\n') out += "\\n";
        else if (static_cast<unsigned char>(ch) < 0x20) out += '?';
        else out += ch;
    }
    return out;
}

}  // namespace conformance
