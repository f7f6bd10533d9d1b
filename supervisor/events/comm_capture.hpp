// Capture mode of supervisord's output dispatcher (POutputDispatcher): text
// a program writes between <!--XSUPERVISOR:BEGIN--> and
// <!--XSUPERVISOR:END--> becomes one PROCESS_COMMUNICATION event, at most
// *_capture_maxbytes of it (the last bytes are kept); the rest is ordinary
// output (PROCESS_LOG events). Tokens may arrive split across reads. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::supervisor::events {

inline constexpr std::string_view kBeginToken = "<!--XSUPERVISOR:BEGIN-->";
inline constexpr std::string_view kEndToken = "<!--XSUPERVISOR:END-->";

class CommCapture {
public:
    explicit CommCapture(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

    struct Piece {
        bool communication;  // false: ordinary output
        std::string data;
    };
    std::vector<Piece> feed(std::string_view data);
    bool capturing() const { return capturing_; }

private:
    void keep(std::string_view data);  // into the capture, bounded

    std::uint64_t max_bytes_;
    bool capturing_ = false;
    std::string pending_;  // may hold the start of a token
    std::string captured_;
};

}  // namespace vigil::supervisor::events
