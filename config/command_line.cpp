#include "config/command_line.hpp"

namespace vigil::config {

SplitResult split_command(std::string_view line) {
    SplitResult r;
    std::string word;
    bool in_word = false;
    enum class Quote { none, single, dbl } quote = Quote::none;

    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        switch (quote) {
            case Quote::single:
                if (c == '\'') quote = Quote::none;
                else word += c;
                continue;
            case Quote::dbl:
                if (c == '"') {
                    quote = Quote::none;
                } else if (c == '\\' && i + 1 < line.size() &&
                           (line[i + 1] == '"' || line[i + 1] == '\\' || line[i + 1] == '$' || line[i + 1] == '`')) {
                    word += line[++i];
                } else {
                    word += c;
                }
                continue;
            case Quote::none: break;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (in_word) r.argv.push_back(std::move(word));
            word.clear();
            in_word = false;
        } else if (c == '\'') {
            quote = Quote::single;
            in_word = true;
        } else if (c == '"') {
            quote = Quote::dbl;
            in_word = true;
        } else if (c == '\\') {
            if (i + 1 >= line.size()) {
                r.error = "command ends with a lone backslash";
                return r;
            }
            word += line[++i];
            in_word = true;
        } else {
            word += c;
            in_word = true;
        }
    }
    if (quote != Quote::none) {
        r.error = std::string("unterminated ") + (quote == Quote::single ? "single" : "double") + " quote in command";
        r.argv.clear();
        return r;
    }
    if (in_word) r.argv.push_back(std::move(word));
    if (r.argv.empty()) r.error = "command is empty";
    return r;
}

}  // namespace vigil::config
