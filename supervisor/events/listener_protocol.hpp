// What an event listener writes on its stdout, read as supervisord's
// PEventListenerDispatcher reads it: `READY\n` when it wants an event, then
// `RESULT <n>\n` and n bytes (OK or FAIL) for the event it was sent. The
// states are supervisord's: ACKNOWLEDGED (started, or answered; READY is
// due), READY, BUSY (holds an event), UNKNOWN (broke the protocol). Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::supervisor::events {

enum class ListenerState { acknowledged, ready, busy, unknown };
std::string_view listener_state_name(ListenerState s) noexcept;  // "ACKNOWLEDGED"

class ListenerProtocol {
public:
    struct Step {
        enum class Kind { ready, result, violation };
        Kind kind;
        std::string text;  // result: the result bytes; violation: why
    };

    // A new process: ACKNOWLEDGED, nothing buffered.
    void reset();
    // An event was written to it (only while READY): BUSY.
    void sent();
    ListenerState state() const { return state_; }
    // Bytes from its stdout → what they mean, in order. After a violation
    // the state is UNKNOWN and everything else is ignored.
    std::vector<Step> feed(std::string_view data);

    // Longest `RESULT n` line and result accepted; more is a violation, so a
    // listener cannot make vigild buffer without bound.
    static constexpr std::size_t kMaxResultLine = 64;
    static constexpr std::size_t kMaxResult = 1 << 20;

private:
    bool step(std::vector<Step>& out);
    void violate(std::vector<Step>& out, std::string why);

    ListenerState state_ = ListenerState::acknowledged;
    std::string buffer_;
    bool have_length_ = false;
    std::size_t result_length_ = 0;
};

}  // namespace vigil::supervisor::events
