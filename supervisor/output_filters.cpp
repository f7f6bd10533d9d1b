#include "supervisor/output_filters.hpp"

#include <syslog.h>

#include <set>

namespace vigil::supervisor {

void AnsiStripper::filter(std::string_view data, std::string& out) {
    static constexpr std::string_view kTerminators = "HfABCDRsuJKhlpm";
    out.clear();
    out.reserve(data.size());
    for (char c : data) {
        switch (state_) {
            case State::text:
                if (c == '\x1b') state_ = State::escape;
                else out += c;
                break;
            case State::escape:
                if (c == '[') {
                    state_ = State::sequence;
                } else {
                    // A lone ESC is not a sequence: keep it.
                    out += '\x1b';
                    if (c == '\x1b') break;
                    out += c;
                    state_ = State::text;
                }
                break;
            case State::sequence:
                if (kTerminators.find(c) != std::string_view::npos) state_ = State::text;
                break;
        }
    }
}

void send_to_syslog(const std::string& ident, std::string_view line) {
    // openlog() keeps the pointer it is given: the tags live as long as
    // vigild (one per process name ever logged).
    static std::set<std::string> idents;
    const std::string& tag = *idents.insert(ident).first;
    ::openlog(tag.c_str(), 0, LOG_USER);
    ::syslog(LOG_USER | LOG_INFO, "%.*s", static_cast<int>(line.size()), line.data());
}

void SyslogLines::feed(std::string_view data) {
    while (!data.empty()) {
        const std::size_t room = kMaxLine - partial_.size();  // partial_ is always shorter than kMaxLine
        const std::size_t nl = data.find('\n');
        if (nl != std::string_view::npos && nl <= room) {
            partial_.append(data.substr(0, nl));
            data.remove_prefix(nl + 1);
            flush_line();
            continue;
        }
        const std::size_t take = std::min(room, data.size());
        partial_.append(data.substr(0, take));
        data.remove_prefix(take);
        if (partial_.size() >= kMaxLine) flush_line();
    }
}

void SyslogLines::flush_line() {
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    sink_(ident_, partial_);
    partial_.clear();
}

void SyslogLines::flush() {
    if (!partial_.empty()) flush_line();
}

}  // namespace vigil::supervisor
