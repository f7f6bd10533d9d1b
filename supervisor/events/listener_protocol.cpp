#include "supervisor/events/listener_protocol.hpp"

#include <charconv>

namespace vigil::supervisor::events {
namespace {

constexpr std::string_view kReady = "READY\n";
constexpr std::string_view kResult = "RESULT ";

// What the listener wrote, shortened and with control bytes shown, for the log.
std::string quoted(std::string_view s) {
    std::string out = "'";
    for (const char ch : s.substr(0, 40)) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\n') out += "\\n";
        else if (c < 0x20 || c >= 0x7F) out += '?';
        else out += ch;
    }
    return out + (s.size() > 40 ? "…'" : "'");
}

}  // namespace

std::string_view listener_state_name(ListenerState s) noexcept {
    switch (s) {
        case ListenerState::acknowledged: return "ACKNOWLEDGED";
        case ListenerState::ready: return "READY";
        case ListenerState::busy: return "BUSY";
        case ListenerState::unknown: return "UNKNOWN";
    }
    return "UNKNOWN";
}

void ListenerProtocol::reset() {
    state_ = ListenerState::acknowledged;
    buffer_.clear();
    have_length_ = false;
    result_length_ = 0;
}

void ListenerProtocol::sent() {
    if (state_ == ListenerState::ready) state_ = ListenerState::busy;
}

void ListenerProtocol::violate(std::vector<Step>& out, std::string why) {
    state_ = ListenerState::unknown;
    buffer_.clear();
    out.push_back(Step{Step::Kind::violation, std::move(why)});
}

std::vector<ListenerProtocol::Step> ListenerProtocol::feed(std::string_view data) {
    std::vector<Step> out;
    if (state_ == ListenerState::unknown) return out;
    buffer_.append(data);
    while (!buffer_.empty() && step(out)) {
    }
    return out;
}

// One decision on the buffered bytes; false when more bytes are needed.
bool ListenerProtocol::step(std::vector<Step>& out) {
    switch (state_) {
        case ListenerState::unknown: return false;
        case ListenerState::acknowledged:
            if (buffer_.size() < kReady.size()) {
                if (kReady.substr(0, buffer_.size()) == buffer_) return false;
                violate(out, "expected READY, got " + quoted(buffer_));
                return false;
            }
            if (buffer_.compare(0, kReady.size(), kReady) != 0) {
                violate(out, "expected READY, got " + quoted(buffer_));
                return false;
            }
            buffer_.erase(0, kReady.size());
            state_ = ListenerState::ready;
            out.push_back(Step{Step::Kind::ready, {}});
            return true;
        case ListenerState::ready:
            // supervisord is strict here too: nothing is due before an event.
            violate(out, "wrote " + quoted(buffer_) + " while READY, before any event was sent");
            return false;
        case ListenerState::busy:
            if (!have_length_) {
                const auto eol = buffer_.find('\n');
                if (eol == std::string::npos) {
                    if (buffer_.size() > kMaxResultLine) violate(out, "bad result line " + quoted(buffer_));
                    return false;
                }
                const std::string_view line(buffer_.data(), eol);
                std::size_t n = 0;
                const char* digits = line.data() + kResult.size();
                const char* end = line.data() + line.size();
                if (line.size() <= kResult.size() || line.substr(0, kResult.size()) != kResult ||
                    std::from_chars(digits, end, n).ptr != end || n > kMaxResult) {
                    violate(out, "bad result line " + quoted(line));
                    return false;
                }
                buffer_.erase(0, eol + 1);
                have_length_ = true;
                result_length_ = n;
            }
            if (buffer_.size() < result_length_) return false;
            out.push_back(Step{Step::Kind::result, buffer_.substr(0, result_length_)});
            buffer_.erase(0, result_length_);
            have_length_ = false;
            state_ = ListenerState::acknowledged;
            return true;
    }
    return false;
}

}  // namespace vigil::supervisor::events
