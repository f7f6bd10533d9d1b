// What a program's output goes through besides its log file: ANSI escape
// sequences stripped ([supervisord] strip_ansi), and lines sent to the
// system log (stdout_syslog / stderr_syslog, `*_logfile = syslog`). Both keep
// state across reads, since a read may end inside an escape or a line.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace vigil::supervisor {

// supervisord's strip_escapes(): from ESC '[' up to and including one of
// HfABCDRsuJKhlpm.
class AnsiStripper {
public:
    // The data without escape sequences, in `out` (cleared first).
    void filter(std::string_view data, std::string& out);

private:
    enum class State { text, escape, sequence } state_ = State::text;
};

// syslog(3) with `ident` as the tag, at LOG_USER|LOG_INFO as supervisord
// sends its programs' lines.
void send_to_syslog(const std::string& ident, std::string_view line);

class SyslogLines {
public:
    using Sink = std::function<void(const std::string& ident, std::string_view line)>;
    // A line longer than this is sent in pieces: a program that never
    // writes a newline must not grow vigild without bound.
    static constexpr std::size_t kMaxLine = 8192;

    explicit SyslogLines(std::string ident, Sink sink = send_to_syslog)
        : ident_(std::move(ident)), sink_(std::move(sink)) {}

    // Sends every complete line; keeps the unfinished one.
    void feed(std::string_view data);
    // Sends the unfinished line, if any (the program exited).
    void flush();

private:
    void flush_line();

    std::string ident_;
    Sink sink_;
    std::string partial_;
};

}  // namespace vigil::supervisor
