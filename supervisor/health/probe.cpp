#include "supervisor/health/probe.hpp"

#include <algorithm>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <boost/asio/post.hpp>

#include "supervisor/health/probe_base.hpp"

namespace vigil::health {

std::shared_ptr<Probe> make_probe(asio::io_context& io, const config::HealthCheck& hc, const ExecContext& exec) {
    using config::HealthKind;
    switch (hc.kind) {
        case HealthKind::none: return nullptr;
        case HealthKind::http:
        case HealthKind::https: return make_http_probe(io, hc);
        case HealthKind::tcp: return make_tcp_probe(io, hc);
        case HealthKind::postgres: return make_postgres_probe(io, hc);
        case HealthKind::redis: return make_redis_probe(io, hc);
        case HealthKind::exec: return make_exec_probe(io, hc, exec);
    }
    return nullptr;
}

int ProbeBase::connect_start(tcp::socket& socket, const tcp::endpoint& ep, boost::system::error_code& ec) noexcept {
    if (socket.is_open()) {  // parked by the last run that passed
        const int r = ::connect(socket.native_handle(), ep.data(), static_cast<socklen_t>(ep.size()));
        if (r == 0) return 0;
        if (errno == EINPROGRESS) return 1;
        if (errno == ECONNREFUSED || errno == ENETUNREACH || errno == EHOSTUNREACH) {
            ec = boost::system::error_code(errno, boost::system::system_category());
            close_with_reset(socket);
            return -1;
        }
        // Another address family, or a state the kernel will not reconnect
        // from: a fresh socket below.
        close_with_reset(socket);
    }
    // Opened by asio (an assigned fd would cost an epoll_ctl more at
    // close), made non-blocking once, then connected by hand.
    socket.open(ep.protocol(), ec);
    if (!ec) socket.non_blocking(true, ec);
    if (!ec) {
        const int r = ::connect(socket.native_handle(), ep.data(), static_cast<socklen_t>(ep.size()));
        if (r == 0) return 0;
        if (errno == EINPROGRESS) return 1;
        ec = boost::system::error_code(errno, boost::system::system_category());  // loopback refuses at once
    }
    boost::system::error_code ignored;
    socket.close(ignored);
    return -1;
}

int ProbeBase::connect_result(tcp::socket& socket) noexcept {
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) so_error = errno;
    if (so_error != 0) {
        boost::system::error_code ignored;
        socket.close(ignored);
    }
    return so_error;
}

bool park_with_reset(tcp::socket& socket) noexcept {
    if (!socket.is_open()) return false;
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    return ::connect(socket.native_handle(), &unspec, sizeof unspec) == 0;
}

bool end_connection(tcp::socket& socket, bool keep) noexcept {
    if (keep && park_with_reset(socket)) return true;
    close_with_reset(socket);
    return false;
}

void prepare_connection(tcp::socket& socket, bool parked) noexcept {
    if (!parked) close_with_reset(socket);
}

void close_with_reset(tcp::socket& socket) noexcept {
    if (!socket.is_open()) return;
    boost::system::error_code ignored;
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
}

namespace {

// Length of the valid UTF-8 sequence at text[i], or 0: server bytes go into
// JSON (the control API), which must not receive broken UTF-8.
std::size_t utf8_length(std::string_view text, std::size_t i) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    std::size_t n = b0 >= 0xf0 && b0 <= 0xf4 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc2 && b0 <= 0xdf ? 2 : 0;
    if (n == 0 || i + n > text.size()) return 0;
    for (std::size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return 0;
    return n;
}

}  // namespace

std::string one_line(std::string_view text, std::size_t max) {
    std::string out;
    out.reserve(std::min(text.size(), max) + 4);
    for (std::size_t i = 0; i < text.size() && out.size() < max;) {
        const auto u = static_cast<unsigned char>(text[i]);
        if (u < 0x20 || u == 0x7f) {
            if (!out.empty() && out.back() != ' ') out.push_back(' ');
            ++i;
        } else if (u < 0x80) {
            out.push_back(text[i++]);
        } else if (const std::size_t n = utf8_length(text, i)) {
            out.append(text.substr(i, n));
            i += n;
        } else {
            out.push_back('?');
            ++i;
        }
        if (out.size() >= max && i < text.size()) {
            out += "…";
            break;
        }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

ProbeBase::ProbeBase(asio::io_context& io, std::chrono::milliseconds timeout)
    : io_(io), timeout_(timeout), deadline_(io), resolver_(io) {}

void ProbeBase::run(Callback done) {
    if (open_) cancel();  // a run over an open one: the old one is abandoned, not leaked
    ++gen_;
    open_ = true;
    pending_ = false;
    done_ = std::move(done);
    started_ = std::chrono::steady_clock::now();
    phase_ = "starting";
    deadline_at_ = started_ + timeout_;
    if (!deadline_armed_) arm_deadline();
    in_run_ = true;
    try {
        start();
    } catch (const std::exception& e) {
        finish(false, e.what());
    }
    in_run_ = false;
}

void ProbeBase::cancel() noexcept {
    ++gen_;  // also silences a completion already posted by finish()
    done_ = nullptr;
    pending_ = false;
    if (deadline_armed_) {
        // Nothing left pending: a dropped probe goes at once.
        deadline_armed_ = false;
        ++deadline_gen_;
        deadline_.cancel();
    }
    if (!open_) return;
    open_ = false;
    if (resolving_) resolver_.cancel();
    resolving_ = false;
    abort(false);
}

// The deadline timer is not cancelled when a run ends in time: a check
// every second with a 2 s timeout would pay a cancel and an aborted
// completion per run. It stays armed; when it fires it times out the open
// run if that run's deadline has come, re-arms for a later run's deadline,
// or, with no run open, rests until the next run arms it.
void ProbeBase::arm_deadline() {
    deadline_armed_ = true;
    deadline_.expires_at(deadline_at_);
    deadline_.async_wait([self = shared_from_this(), armed = ++deadline_gen_](const boost::system::error_code& ec) {
        if (ec || armed != self->deadline_gen_) return;
        self->deadline_armed_ = false;
        if (!self->open_) return;
        if (std::chrono::steady_clock::now() < self->deadline_at_) return self->arm_deadline();
        self->on_timeout();
    });
}

void ProbeBase::on_timeout() {
    finish(false, "timed out after " + duration_text(timeout_) + " (" + phase_ + ")");
}

void ProbeBase::finish(bool ok, std::string detail) {
    if (!open_) return;
    open_ = false;
    if (resolving_) resolver_.cancel();
    resolving_ = false;
    abort(ok);
    // A failure may come from a stale address (a restarted container, a
    // changed /etc/hosts): ask again next time.
    if (!ok) endpoints_.clear();
    const auto latency =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
    if (in_handler_ && !in_run_) {
        // Inside a completion handler of this run (guard()): the handler
        // calls back once it returns, no second trip through the queue.
        result_.ok = ok;
        result_.detail = std::move(detail);
        result_.latency = latency;
        pending_ = true;
        return;
    }
    // Posted, so a run that fails at once (spawn error, bad address) still
    // completes outside run() and the caller never re-enters itself.
    asio::post(io_, [self = shared_from_this(), gen = gen_, done = std::move(done_),
                     r = ProbeResult{ok, std::move(detail), latency}]() mutable {
        if (gen != self->gen_ || !done) return;
        done(std::move(r));
    });
    done_ = nullptr;
}

void ProbeBase::deliver() {
    if (!pending_) return;
    pending_ = false;
    Callback done = std::move(done_);
    done_ = nullptr;
    // The callback may start the next run: nothing of this one is touched after it.
    if (done) done(std::move(result_));
}

}  // namespace vigil::health
