#include "proxy/request_framer.hpp"

#include <cstring>

namespace vigil::proxy {

RequestFramer::RequestFramer(std::size_t capacity, std::size_t max_head, std::uint64_t max_body)
    : cap_(capacity), max_head_(max_head), max_body_(max_body ? max_body : UINT64_MAX),
      buf_(new char[capacity]), chunks_(max_body_) {}

char* RequestFramer::read_ptr() noexcept {
    if (beg_ == end_) {
        beg_ = end_ = body_end_ = 0;
    } else if (!in_body_ && beg_ > 0) {
        std::memmove(buf_.get(), buf_.get() + beg_, end_ - beg_);
        end_ -= beg_;
        beg_ = 0;
    }
    return buf_.get() + end_;
}

void RequestFramer::received(std::size_t n) noexcept {
    end_ += n;
    if (in_body_) scan();
}

ParseResult RequestFramer::parse_head(RequestHead& out) noexcept {
    if (in_body_) {
        out.error = "body of the previous request pending";
        return ParseResult::bad_request;
    }
    const ParseResult r = validate_request({buf_.get() + beg_, end_ - beg_}, max_head_, out);
    if (r != ParseResult::ok) return r;
    beg_ += out.head_size;
    body_end_ = beg_;
    kind_ = out.body;
    status_ = Body::more;
    if (kind_ == BodyKind::length) {
        remaining_ = out.content_length;
        if (remaining_ > max_body_) status_ = Body::too_large;
    } else if (kind_ == BodyKind::chunked) {
        chunks_ = ChunkedScanner(max_body_);
    } else {
        status_ = Body::done;
        return r;
    }
    in_body_ = true;
    scan();
    return r;
}

void RequestFramer::scan() noexcept {
    if (status_ != Body::more || body_end_ == end_) return;
    const std::size_t avail = end_ - body_end_;
    if (kind_ == BodyKind::length) {
        const std::size_t take = avail < remaining_ ? avail : static_cast<std::size_t>(remaining_);
        remaining_ -= take;
        body_end_ += take;
        if (remaining_ == 0) status_ = Body::done;
        return;
    }
    std::size_t used = 0;
    switch (chunks_.feed(buf_.get() + body_end_, avail, used)) {
        case ChunkedScanner::Status::more: body_end_ += used; break;
        case ChunkedScanner::Status::done: body_end_ += used; status_ = Body::done; break;
        case ChunkedScanner::Status::bad: status_ = Body::bad; break;
        case ChunkedScanner::Status::too_large: status_ = Body::too_large; break;
    }
}

RequestFramer::Body RequestFramer::body(const char*& data, std::size_t& n) const noexcept {
    data = buf_.get() + beg_;
    n = in_body_ ? body_end_ - beg_ : 0;
    return in_body_ ? status_ : Body::done;
}

void RequestFramer::consume(std::size_t n) noexcept {
    if (!in_body_) return;
    beg_ += n < body_end_ - beg_ ? n : body_end_ - beg_;
    if (status_ == Body::done && beg_ == body_end_) in_body_ = false;
}

}  // namespace vigil::proxy
