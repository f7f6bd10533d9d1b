#include "supervisor/events/event_format.hpp"

namespace vigil::supervisor::events {
namespace {

using core::State;

std::string facts_head(const ProcessFacts& f, State from) {
    return "processname:" + f.name + " groupname:" + f.group + " from_state:" + std::string(core::state_name(from));
}

// One PROCESS_STATE_<to> event with the extra fields supervisord adds for <to>.
Event state_event(State from, State to, const ProcessFacts& f) {
    std::string payload = facts_head(f, from);
    switch (to) {
        case State::starting:
        case State::backoff: payload += " tries:" + std::to_string(f.tries); break;
        case State::exited:
            payload += " expected:" + std::string(f.expected ? "1" : "0") + " pid:" + std::to_string(f.pid);
            break;
        case State::running:
        case State::stopping:
        case State::stopped: payload += " pid:" + std::to_string(f.pid); break;
        case State::fatal: break;
    }
    return Event{"PROCESS_STATE_" + std::string(core::state_name(to)), std::move(payload)};
}

bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;  // continuation bytes
        if (c < 0x80) n = 0;
        else if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if ((c & 0xF0) == 0xE0) n = 2;
        else if (c >= 0xF0 && c <= 0xF4) n = 3;
        else return false;  // a stray continuation byte, an overlong lead, or past U+10FFFF
        if (s.size() - i <= n) return false;
        for (std::size_t k = 1; k <= n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += n + 1;
    }
    return true;
}

}  // namespace

std::vector<Event> process_state_events(State from, State to, const ProcessFacts& f) {
    std::vector<Event> out;
    if (from == to) return out;
    const bool crashed = from == State::running && (to == State::backoff || to == State::starting);
    const bool gave_up = from == State::starting && to == State::fatal;
    const bool restarted = from == State::stopping && to != State::stopped;
    if (crashed) {
        out.push_back(state_event(State::running, State::exited, f));
        out.push_back(state_event(State::exited, to, f));
    } else if (gave_up) {
        out.push_back(state_event(State::starting, State::backoff, f));
        out.push_back(state_event(State::backoff, State::fatal, f));
    } else if (restarted) {
        out.push_back(state_event(State::stopping, State::stopped, f));
        out.push_back(state_event(State::stopped, to, f));
    } else {
        out.push_back(state_event(from, to, f));
    }
    return out;
}

std::string process_log_payload(const std::string& name, const std::string& group, int pid, std::string_view channel,
                                std::string_view data) {
    return "processname:" + name + " groupname:" + group + " pid:" + std::to_string(pid) + " channel:" +
           std::string(channel) + "\n" + printable(data);
}

std::string communication_payload(const std::string& name, const std::string& group, int pid, std::string_view data) {
    return "processname:" + name + " groupname:" + group + " pid:" + std::to_string(pid) + "\n" + printable(data);
}

std::string remote_payload(std::string_view type, std::string_view data) {
    return "type:" + printable(type) + "\n" + printable(data);
}

std::string group_payload(std::string_view group) { return "groupname:" + std::string(group) + "\n"; }

std::string tick_payload(std::int64_t when) { return "when:" + std::to_string(when); }

std::string envelope(std::string_view server, std::uint64_t serial, std::string_view pool, std::uint64_t pool_serial,
                     const Event& e) {
    std::string out = "ver:3.0 server:" + std::string(server) + " serial:" + std::to_string(serial) +
                      " pool:" + std::string(pool) + " poolserial:" + std::to_string(pool_serial) +
                      " eventname:" + e.type + " len:" + std::to_string(code_points(e.payload)) + "\n";
    out += e.payload;
    return out;
}

std::string printable(std::string_view data) {
    if (valid_utf8(data)) return std::string(data);
    // Python's repr() of bytes: b'…' with \t \n \r \\ \' and \xNN escapes.
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "Undecodable: b'";
    for (const char ch : data) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\\' || c == '\'') {
            out += '\\';
            out += ch;
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c >= 0x7F) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        } else {
            out += ch;
        }
    }
    out += '\'';
    return out;
}

std::size_t code_points(std::string_view utf8) noexcept {
    std::size_t n = 0;
    for (const char ch : utf8)
        if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++n;
    return n;
}

}  // namespace vigil::supervisor::events
