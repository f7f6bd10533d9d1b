#include "common/percent.hpp"

namespace vigil {

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const int v = s[i] == '%' ? percent_value(s.substr(i)) : -1;
        if (v >= 0) {
            out += static_cast<char>(v);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

}  // namespace vigil
