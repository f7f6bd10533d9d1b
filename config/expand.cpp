#include "config/expand.hpp"

#include <string>

namespace vigil::config {
namespace {

// Padding is for `%(process_num)03d`, not for building megabytes out of a
// few characters of config (or fuzzer input).
constexpr int kMaxWidth = 64;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string known_names(const ExpandVars& vars) {
    std::string out;
    auto add = [&](const std::string& n) {
        if (!out.empty()) out += ", ";
        out += n;
    };
    for (const auto& [name, value] : vars.strings) add(name);
    for (const auto& [name, value] : vars.numbers) add(name);
    if (vars.env) add("ENV_*");
    return out;
}

struct Spec {
    bool left = false, zero = false, plus = false, space = false;
    int width = 0;
    int precision = -1;
    char conversion = 's';
};

// Reads flags, width, precision and conversion after "%(name)".
bool parse_spec(std::string_view text, std::size_t& i, Spec& spec, std::string& error) {
    while (i < text.size()) {
        char c = text[i];
        if (c == '-') spec.left = true;
        else if (c == '0') spec.zero = true;
        else if (c == '+') spec.plus = true;
        else if (c == ' ') spec.space = true;
        else if (c == '#') {
        } else break;
        ++i;
    }
    auto number = [&](int& out) {
        out = 0;
        while (i < text.size() && is_digit(text[i])) {
            out = out * 10 + (text[i] - '0');
            if (out > kMaxWidth) {
                error = "width or precision larger than " + std::to_string(kMaxWidth) + " in an expansion";
                return false;
            }
            ++i;
        }
        return true;
    };
    if (!number(spec.width)) return false;
    if (i < text.size() && text[i] == '.') {
        ++i;
        if (!number(spec.precision)) return false;
    }
    if (i >= text.size()) {
        error = "incomplete expansion at the end of the value (a conversion such as 's' or 'd' must follow)";
        return false;
    }
    spec.conversion = text[i++];
    if (spec.conversion != 's' && spec.conversion != 'd' && spec.conversion != 'i') {
        error = std::string("unsupported conversion '") + spec.conversion + "' in an expansion (use s or d)";
        return false;
    }
    return true;
}

std::string pad(std::string body, const Spec& spec, bool numeric) {
    if (static_cast<int>(body.size()) >= spec.width) return body;
    std::size_t fill = static_cast<std::size_t>(spec.width) - body.size();
    if (spec.left) return body + std::string(fill, ' ');
    if (numeric && spec.zero) {
        std::size_t sign = (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
        return body.substr(0, sign) + std::string(fill, '0') + body.substr(sign);
    }
    return std::string(fill, ' ') + body;
}

}  // namespace

std::optional<std::string> expand(std::string_view text, const ExpandVars& vars, std::string& error) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t pct = text.find('%', i);
        if (pct == std::string_view::npos) {
            out.append(text.substr(i));
            break;
        }
        out.append(text.substr(i, pct - i));
        i = pct + 1;
        if (i < text.size() && text[i] == '%') {
            out += '%';
            ++i;
            continue;
        }
        if (i >= text.size() || text[i] != '(') {
            error = "a lone '%' (write '%%' for a literal percent sign, or %(name)s to expand)";
            return std::nullopt;
        }
        std::size_t close = text.find(')', i + 1);
        if (close == std::string_view::npos) {
            error = "unterminated expansion '" + std::string(text.substr(pct, 40)) + "' (missing ')')";
            return std::nullopt;
        }
        std::string_view name = text.substr(i + 1, close - i - 1);
        i = close + 1;
        Spec spec;
        if (!parse_spec(text, i, spec, error)) return std::nullopt;
        std::string written(text.substr(pct, i - pct));

        std::optional<std::string> str;
        std::optional<long long> num;
        if (auto it = vars.strings.find(name); it != vars.strings.end()) {
            str = it->second;
        } else if (auto n = vars.numbers.find(name); n != vars.numbers.end()) {
            num = n->second;
        } else if (vars.env && name.size() > 4 && name.substr(0, 4) == "ENV_") {
            auto e = vars.env->find(std::string(name.substr(4)));
            if (e == vars.env->end()) {
                error = "environment variable " + std::string(name.substr(4)) + " is not set (in " + written + ")";
                return std::nullopt;
            }
            str = e->second;
        } else {
            error = "unknown expansion " + written + " (known here: " + known_names(vars) + ")";
            return std::nullopt;
        }

        if (spec.conversion == 's') {
            std::string body = str ? *str : std::to_string(*num);
            if (spec.precision >= 0 && static_cast<int>(body.size()) > spec.precision)
                body.resize(static_cast<std::size_t>(spec.precision));
            out += pad(std::move(body), spec, false);
        } else {
            if (!num) {
                error = written + " needs a number, but " + std::string(name) + " is text (use %(" +
                        std::string(name) + ")s)";
                return std::nullopt;
            }
            std::string body = std::to_string(*num < 0 ? -*num : *num);
            if (spec.precision > static_cast<int>(body.size()))
                body.insert(0, static_cast<std::size_t>(spec.precision) - body.size(), '0');
            if (*num < 0) body.insert(0, 1, '-');
            else if (spec.plus) body.insert(0, 1, '+');
            else if (spec.space) body.insert(0, 1, ' ');
            out += pad(std::move(body), spec, spec.precision < 0);
        }
    }
    return out;
}

}  // namespace vigil::config
