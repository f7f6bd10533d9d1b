// Why did it exit? The last lines a child wrote (stdout and stderr) and a
// choice among them of the one that explains a failed start best — a data
// directory owned by someone else, a port already taken — so `vigilctl
// status` and vigild's log can say it in one line instead of a bare
// "exit status 1". Pure: bytes in, a line out.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace vigil::core {

class OutputTail {
public:
    static constexpr std::size_t kMaxLines = 64;
    static constexpr std::size_t kMaxLineBytes = 400;

    // Output of fd 1 or 2, in any pieces; lines end at '\n'.
    void feed(int fd, std::string_view data);
    // Forgets everything (a new run begins).
    void clear();

    // The most telling line of what was fed, cleaned of timestamp/pid
    // prefixes and cut to `max_len`; empty when nothing stands out. In order
    // of preference (the last of a kind wins): an error line the kind wrappers print
    // ("vigil: error: …"), a line with a system error text ("Address already in
    // use", "Permission denied", …), a line saying FATAL / ERROR / failed /
    // aborting, else the last line on stderr.
    // `telling_only`: no fallback to the last stderr line — for a process
    // killed from outside (kill -9), whose last line (often an info line)
    // explains nothing; the signal is the reason.
    std::string reason(std::size_t max_len = 200, bool telling_only = false) const;

private:
    struct Line {
        int fd;
        std::string text;
    };
    void push(int fd, std::string text);

    std::deque<Line> lines_;
    std::string partial_[2];  // an unfinished line per fd
};

// "2024-01-01 12:00:00.123 UTC [42] FATAL:  x" → "FATAL:  x",
// "42:M 01 Jan 2024 12:00:00.123 # x" → "x"; others unchanged but trimmed.
std::string strip_log_prefix(std::string_view line);

}  // namespace vigil::core
