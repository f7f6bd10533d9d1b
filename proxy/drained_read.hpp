// async_read_some on a plain TCP socket without the read that finds nothing,
// for the reads that start a turn of the conversation.
//
// Asio's epoll reactor tries every read at once before it waits for the
// socket (a "speculative" read), and does not remember that the last read
// emptied the socket: in a request/answer exchange the read that follows a
// send nearly always returns EAGAIN (the upstream's answer right after the
// request went out, the client's next request right after the answer): 1.6
// of the proxy's 6 system calls per keep-alive POST.
//
// This read operation tells the reactor when a read left the socket empty,
// and the reactor then skips the try before the next read on that socket.
// Proof of empty: the socket has TCP_INQ on, and the read's TCP_CM_INQ says
// 0 bytes are left, which also means no FIN is waiting (the kernel reports 1
// once a FIN came, so that the reader goes on to the end of the stream).
// Anything that comes later raises a new edge-triggered event, and the
// reactor marks the socket worth trying again when it sees that event,
// whether or not a read is waiting: so the reactor's own per-socket flag (set
// by the reactor on every event, cleared by the reactor when this read says
// "empty") stays exact, where a flag kept by the caller would miss an event
// that came between the read and its completion.
//
// What TCP_CM_INQ does not tell is a socket error (a reset) that came before
// the read and whose event was spent: a read after it would wait for an
// event that never comes. A send fails on such an error, so the caller says
// which reads may trust the flag (`trust`): a read that follows a send on the
// same socket since the last read (the session's two turns: the client's
// next request after our answer, the upstream's answer after our request).
// Any other read sets the flag first, and tries at once as Asio would.
//
// Built on Asio's detail layer (its epoll reactor, reactor_op, the socket's
// implementation, the reactor's flag), for an io_context run by one thread
// (a worker's): Debian 12's Boost 1.81. Other versions, or another
// reactor, fall back to the plain async_read_some (the extra system call
// only).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define VIGIL_DRAINED_READ 1
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#endif

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

namespace vigil::proxy::drained {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

#if VIGIL_DRAINED_READ
namespace ad = asio::detail;
using Reactor = ad::reactor;

inline Reactor& reactor_of(asio::io_context& io) { return asio::use_service<Reactor>(io); }

// The socket's implementation (descriptor, state, reactor registration):
// a protected member of basic_socket, reached through a pointer to member.
struct SocketAccess : tcp::socket {
    static auto& impl(tcp::socket& s) { return (s.*&SocketAccess::impl_).get_implementation(); }
};

class RecvOpBase : public ad::reactor_op {
public:
    RecvOpBase(ad::socket_type s, asio::mutable_buffer b, func_type complete)
        : reactor_op(boost::system::error_code(), &RecvOpBase::do_perform, complete), socket_(s), buf_(b) {}

    static status do_perform(reactor_op* base) {
        auto* o = static_cast<RecvOpBase*>(base);
        iovec iov{o->buf_.data(), o->buf_.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        ssize_t r;
        do r = ::recvmsg(o->socket_, &m, 0);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
            o->ec_ = boost::system::error_code(errno, asio::error::get_system_category());
            o->bytes_transferred_ = 0;
            return done;
        }
        o->bytes_transferred_ = static_cast<std::size_t>(r);
        if (r == 0) {
            o->ec_ = asio::error::eof;
            return done;
        }
        o->ec_ = {};
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level != SOL_TCP || c->cmsg_type != TCP_CM_INQ) continue;
            int inq;
            std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
            if (inq == 0) return done_and_exhausted;
        }
        return done;
    }

private:
    ad::socket_type socket_;
    asio::mutable_buffer buf_;
};

// Asio's reactive_socket_recv_op, on the base above.
template <class Handler, class IoExecutor>
class RecvOp : public RecvOpBase {
public:
    BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

    RecvOp(ad::socket_type s, asio::mutable_buffer b, Handler& h, const IoExecutor& io_ex)
        : RecvOpBase(s, b, &RecvOp::do_complete), handler_(std::move(h)), work_(handler_, io_ex) {}

    static void do_complete(void* owner, ad::operation* base, const boost::system::error_code&, std::size_t) {
        auto* o = static_cast<RecvOp*>(base);
        ptr p = {std::addressof(o->handler_), o, o};
        ad::handler_work<Handler, IoExecutor> w(std::move(o->work_));
        ad::binder2<Handler, boost::system::error_code, std::size_t> handler(o->handler_, o->ec_,
                                                                              o->bytes_transferred_);
        p.h = std::addressof(handler.handler_);
        p.reset();
        if (owner) {
            ad::fenced_block b(ad::fenced_block::half);
            w.complete(handler, handler.handler_);
        }
    }

private:
    Handler handler_;
    ad::handler_work<Handler, IoExecutor> work_;
};

// Per-operation cancellation, as Asio's socket service does it.
class Cancel {
public:
    Cancel(Reactor* r, Reactor::per_descriptor_data* d, ad::socket_type s) : r_(r), d_(d), s_(s) {}
    void operator()(asio::cancellation_type_t type) {
        if (!!(type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                       asio::cancellation_type::total)))
            r_->cancel_ops_by_key(s_, *d_, Reactor::read_op, this);
    }

private:
    Reactor* r_;
    Reactor::per_descriptor_data* d_;
    ad::socket_type s_;
};

// The reactor's per-socket "try the read first" flag, a private member of
// its descriptor_state, named through an explicit instantiation (which C++
// exempts from access checks).
struct TryFirst {
    using type = bool (Reactor::descriptor_state::*)[Reactor::max_ops];
    friend type member(TryFirst);
};
template <class Tag, typename Tag::type M>
struct Expose {
    friend typename Tag::type member(Tag) { return M; }
};
template struct Expose<TryFirst, &Reactor::descriptor_state::try_speculative_>;

template <class Handler>
void start(Reactor& r, tcp::socket& s, asio::mutable_buffer b, bool trust, Handler& h) {
    using Op = RecvOp<Handler, tcp::socket::executor_type>;
    auto& impl = SocketAccess::impl(s);
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(h);
    auto slot = asio::get_associated_cancellation_slot(h);
    typename Op::ptr p = {std::addressof(h), Op::ptr::allocate(h), nullptr};
    p.p = new (p.v) Op(impl.socket_, b, h, s.get_executor());
    if (slot.is_connected())
        p.p->cancellation_key_ = &slot.template emplace<Cancel>(&r, &impl.reactor_data_, impl.socket_);
    if (b.size() == 0 ||
        (!(impl.state_ & ad::socket_ops::non_blocking) &&
         !ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_)))
        r.post_immediate_completion(p.p, is_continuation);  // as Asio: an empty read completes at once
    else {
        if (!trust && impl.reactor_data_) (impl.reactor_data_->*member(TryFirst{}))[Reactor::read_op] = true;
        r.start_op(Reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation, true);
    }
    p.v = p.p = nullptr;
}

// Turns TCP_INQ on for `s` (the proof read_some() needs); false if the
// kernel refused, and then read_some() behaves as async_read_some.
inline bool enable(tcp::socket& s) noexcept {
    const int one = 1;
    return ::setsockopt(s.native_handle(), SOL_TCP, TCP_INQ, &one, sizeof one) == 0;
}

// async_read_some(b, token) on `s`, whose io_context's reactor is `r`.
// `trust`: a send on `s` came after its last read (see above).
template <class Token>
auto read_some(Reactor& r, tcp::socket& s, asio::mutable_buffer b, bool trust, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [&r, &s, trust](auto handler, asio::mutable_buffer buf) { start(r, s, buf, trust, handler); }, token, b);
}
#else
struct Reactor {};
inline bool enable(tcp::socket&) noexcept { return false; }
inline Reactor& reactor_of(asio::io_context&) {
    static Reactor none;
    return none;
}
template <class Token>
auto read_some(Reactor&, tcp::socket& s, asio::mutable_buffer b, bool, Token&& token) {
    return s.async_read_some(b, std::forward<Token>(token));
}
#endif

}  // namespace vigil::proxy::drained
