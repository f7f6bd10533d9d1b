// Which bytes of a client connection belong to which request. The session
// reads into this buffer and asks it, and only it, where a head starts and
// where a body ends, so no path through the session can leave a body's bytes
// behind to be parsed as the next request (issue 13: a keep-alive POST whose
// body came with its head was answered twice). Pure: no Asio, no sockets;
// tests/fuzz/session_fuzz.cpp drives it at random split points against an
// independent parser.
//
// Phases: head (nothing of a request pending) → body (the body of the head
// just parsed: Content-Length or chunked) → head. Bytes past the end of the
// body stay in the buffer, unscanned, for the next head (pipelining).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "proxy/http_parse.hpp"

namespace vigil::proxy {

class RequestFramer {
public:
    enum class Body : std::uint8_t {
        more,      // the body goes on past what is buffered
        done,      // the body ends within what is buffered (or there is none)
        bad,       // malformed chunked framing: 400, close
        too_large  // over max_body: 413, close
    };

    RequestFramer(std::size_t capacity, std::size_t max_head, std::uint64_t max_body);

    // Where the next read goes. With nothing pending the buffer starts over;
    // in the head phase a partial head moves to the front. In the body phase
    // room may be 0 while body bytes wait to be consumed: consume them first.
    // read_room() is the space after read_ptr(): call read_ptr() first.
    char* read_ptr() noexcept;
    std::size_t read_room() const noexcept { return cap_ - end_; }
    void received(std::size_t n) noexcept;

    bool empty() const noexcept { return beg_ == end_; }
    bool at_boundary() const noexcept { return !in_body_; }

    // Head phase only. On ok the head is consumed and its body (if any)
    // begins; the views in `out` stay valid until the next read_ptr().
    ParseResult parse_head(RequestHead& out) noexcept;

    // The buffered body bytes not yet consumed, and whether they end the
    // body. At a boundary: done, with nothing.
    Body body(const char*& data, std::size_t& n) const noexcept;
    // Drops `n` bytes of what body() returned; the last one ends the phase.
    void consume(std::size_t n) noexcept;

    // The whole buffer, for a connection that will not parse again (the
    // lingering close reads and drops into it).
    char* scratch() noexcept { return buf_.get(); }
    std::size_t capacity() const noexcept { return cap_; }

private:
    void scan() noexcept;  // extends the known body over newly received bytes

    std::size_t cap_, max_head_;
    std::uint64_t max_body_;
    std::unique_ptr<char[]> buf_;
    std::size_t beg_ = 0, end_ = 0;
    bool in_body_ = false;
    BodyKind kind_ = BodyKind::none;
    std::uint64_t remaining_ = 0;  // Content-Length bytes not yet scanned
    std::size_t body_end_ = 0;     // end of the scanned body bytes in buf_
    Body status_ = Body::done;
    ChunkedScanner chunks_;
};

}  // namespace vigil::proxy
