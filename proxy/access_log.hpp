// Access log: one line per request, buffered per worker and written in
// whole lines of at most PIPE_BUF bytes, so lines from several workers
// sharing stdout (a pipe to vigild) never interleave mid-line. Never holds
// header values: nothing secret (Authorization, cookies) can reach it.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace vigil::proxy {

class AccessLog {
public:
    explicit AccessLog(int fd = -1) : fd_(fd) { buf_.reserve(buffer_limit + 1024); }
    ~AccessLog() { flush(); }

    bool enabled() const noexcept { return fd_ >= 0; }

    struct Entry {
        std::string_view listener, client, method, target, pool, upstream, request_id;
        int version_minor = 1;
        int status = 0;
        unsigned long long bytes = 0;  // response bytes to the client
        double seconds = 0;
        int tries = 0;
    };
    void write(const Entry& e);
    // A whole line formatted elsewhere, '\n' included (a TCP connection's:
    // proxy/tcp_session.cpp); it must hold no client-controlled text.
    void write_line(std::string_view line) {
        if (fd_ < 0) return;
        if (stamp_time_ == 0) set_time(std::time(nullptr));
        buf_.append(line);
        if (buf_.size() >= buffer_limit) flush();
    }
    std::string_view stamp() const noexcept { return stamp_; }
    void flush();
    // Called by the worker's ticker: the timestamp is formatted once a second.
    void set_time(std::time_t now);

private:
    static constexpr std::size_t buffer_limit = 32 * 1024;
    int fd_;
    std::string buf_;
    std::time_t stamp_time_ = 0;
    char stamp_[32] = "-";
};

}  // namespace vigil::proxy
