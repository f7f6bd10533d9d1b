#include "proxy/path.hpp"

namespace vigil::proxy {
namespace {

bool unreserved(unsigned char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

// True when nothing in the path can change: no escape, no "//", no dot segment.
bool plain(std::string_view path) noexcept {
    for (std::size_t i = 0; i < path.size(); ++i) {
        const char c = path[i];
        if (c == '%') return false;
        if (c == '/' && i + 1 < path.size()) {
            const char n = path[i + 1];
            if (n == '/') return false;
            if (n == '.') {
                const std::string_view rest = path.substr(i + 2);
                if (rest.empty() || rest[0] == '/') return false;                            // "/."
                if (rest[0] == '.' && (rest.size() == 1 || rest[1] == '/')) return false;  // "/.."
            }
        }
    }
    return true;
}

}  // namespace

PathResult normalize_target(std::string_view target, std::string& out) {
    if (target.empty() || target[0] != '/') return PathResult::same;  // "*"
    const std::size_t q = target.find('?');
    const std::string_view path = target.substr(0, q);
    if (plain(path)) return PathResult::same;

    // 1. Escapes: unreserved bytes decoded, the rest kept (upper-case hex).
    std::string decoded;
    decoded.reserve(path.size());
    static constexpr char digits[] = "0123456789ABCDEF";
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (path[i] != '%') {
            decoded += path[i];
            continue;
        }
        const int v = percent_value(path.substr(i));
        if (v < 0) return PathResult::bad;
        if (unreserved(static_cast<unsigned char>(v))) {
            decoded += static_cast<char>(v);
        } else {
            decoded += '%';
            decoded += digits[v >> 4];
            decoded += digits[v & 15];
        }
        i += 2;
    }

    // 2. Segments: empty ones merged away, "." dropped, ".." pops.
    out.clear();
    out.reserve(target.size());
    std::string_view last;
    for (std::size_t i = 1;;) {
        std::size_t j = decoded.find('/', i);
        if (j == std::string::npos) j = decoded.size();
        last = std::string_view(decoded).substr(i, j - i);
        if (last == "..") {
            if (out.empty()) return PathResult::bad;  // above the root
            out.resize(out.rfind('/'));
        } else if (!last.empty() && last != ".") {
            out += '/';
            out += last;
        }
        if (j == decoded.size()) break;
        i = j + 1;
    }
    // A path that named a directory ("/a/", "/a/.", "/a/b/..") still does.
    if (out.empty() || last.empty() || last == "." || last == "..") out += '/';
    if (q != std::string_view::npos) out.append(target.substr(q));
    return out == target ? PathResult::same : PathResult::changed;
}

}  // namespace vigil::proxy
