#include "supervisor/core/exit_reason.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <regex>

namespace vigil::core {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool contains_any(const std::string& lowered, std::initializer_list<std::string_view> needles) {
    return std::any_of(needles.begin(), needles.end(),
                       [&](std::string_view n) { return lowered.find(n) != std::string::npos; });
}

// 3 = a kind wrapper's own message, 2 = a system error text, 1 = an error
// word, 0 = nothing special.
int rank(std::string_view text) {
    if (text.rfind("vigil: error: ", 0) == 0) return 3;
    const std::string l = lower(text);
    if (contains_any(l, {"address already in use", "permission denied", "operation not permitted",
                         "no such file or directory", "no space left on device", "read-only file system",
                         "cannot assign requested address", "too many open files", "cannot allocate memory",
                         "out of memory", "not a directory", "has wrong ownership", "invalid permissions"}))
        return 2;
    if (contains_any(l, {"fatal", "panic", "error", "fail", "abort", "cannot ", "can't ", "could not", "denied",
                         "refused"}))
        return 1;
    return 0;
}

std::string trim(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

}  // namespace

std::string strip_log_prefix(std::string_view line) {
    std::string s = trim(line);
    if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return s;
    // PostgreSQL's default log_line_prefix: "%m [%p] ".
    static constexpr std::array<std::string_view, 8> kPgTags{" LOG:  ",  " WARNING:  ", " HINT:  ", " DETAIL:  ",
                                                             " FATAL:  ", " ERROR:  ",   " PANIC:  ", " STATEMENT:  "};
    for (std::size_t i = 0; i < kPgTags.size(); ++i) {
        const auto at = s.find(kPgTags[i]);
        if (at == std::string::npos) continue;
        std::string rest = s.substr(at + kPgTags[i].size());
        if (i < 4) return rest;  // informational tags add nothing
        std::string tag(kPgTags[i].substr(1, kPgTags[i].find(':')));
        return tag + " " + rest;  // "FATAL: …"
    }
    // Redis: "pid:role dd Mon yyyy hh:mm:ss.mmm <level> message".
    static const std::regex kRedis(R"(^\d+:[XCSM] \d{1,2} \w{3} \d{4} [\d:.]+ [.\-*#] )");
    std::smatch m;
    if (std::regex_search(s, m, kRedis)) return m.suffix().str();
    return s;
}

void OutputTail::feed(int fd, std::string_view data) {
    const int i = fd == 2 ? 1 : 0;
    while (!data.empty()) {
        const auto nl = data.find('\n');
        const std::string_view piece = data.substr(0, nl);
        if (partial_[i].size() < kMaxLineBytes)
            partial_[i].append(piece.substr(0, kMaxLineBytes - partial_[i].size()));
        if (nl == std::string_view::npos) break;
        push(fd == 2 ? 2 : 1, std::move(partial_[i]));
        partial_[i].clear();
        data.remove_prefix(nl + 1);
    }
}

void OutputTail::clear() {
    lines_.clear();
    partial_[0].clear();
    partial_[1].clear();
}

void OutputTail::push(int fd, std::string text) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (trim(text).empty()) return;
    lines_.push_back({fd, std::move(text)});
    if (lines_.size() > kMaxLines) lines_.pop_front();
}

std::string OutputTail::reason(std::size_t max_len, bool telling_only) const {
    // An unfinished last line (the child died mid-line) counts too.
    std::deque<Line> all = lines_;
    for (int i = 0; i < 2; ++i)
        if (!trim(partial_[i]).empty()) all.push_back({i == 1 ? 2 : 1, partial_[i]});
    const Line* best = nullptr;
    int best_rank = -1;
    for (const auto& l : all) {
        const std::string text = strip_log_prefix(l.text);
        int r = rank(text);
        if (r == 0 && l.fd != 2) continue;  // plain stdout chatter explains nothing
        if (r >= best_rank) {
            best_rank = r;
            best = &l;
        }
    }
    if (!best || (telling_only && best_rank == 0)) return {};
    std::string out = strip_log_prefix(best->text);
    // Control characters would garble a status line.
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    if (out.size() > max_len) {
        std::size_t cut = max_len - 3;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 char
        out = out.substr(0, cut) + "...";
    }
    return out;
}

}  // namespace vigil::core
