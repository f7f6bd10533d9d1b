#include "supervisor/events/comm_capture.hpp"

#include <algorithm>

namespace vigil::supervisor::events {
namespace {

// How many bytes at the end of `data` could be the start of `token`.
std::size_t token_prefix_at_end(std::string_view data, std::string_view token) {
    for (std::size_t n = std::min(data.size(), token.size() - 1); n > 0; --n)
        if (data.substr(data.size() - n) == token.substr(0, n)) return n;
    return 0;
}

}  // namespace

void CommCapture::keep(std::string_view data) {
    captured_.append(data);
    if (captured_.size() > max_bytes_) captured_.erase(0, captured_.size() - max_bytes_);
}

std::vector<CommCapture::Piece> CommCapture::feed(std::string_view data) {
    std::vector<Piece> out;
    pending_.append(data);
    for (;;) {
        const std::string_view token = capturing_ ? kEndToken : kBeginToken;
        const auto at = pending_.find(token);
        if (at == std::string::npos) {
            const std::size_t hold = token_prefix_at_end(pending_, token);
            const std::string_view ready(pending_.data(), pending_.size() - hold);
            if (capturing_) keep(ready);
            else if (!ready.empty()) out.push_back(Piece{false, std::string(ready)});
            pending_.erase(0, pending_.size() - hold);
            return out;
        }
        const std::string_view before(pending_.data(), at);
        if (capturing_) {
            keep(before);
            out.push_back(Piece{true, std::move(captured_)});
            captured_.clear();
        } else if (!before.empty()) {
            out.push_back(Piece{false, std::string(before)});
        }
        capturing_ = !capturing_;
        pending_.erase(0, at + token.size());
    }
}

}  // namespace vigil::supervisor::events
