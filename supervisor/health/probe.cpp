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

namespace {

using ConnectThen = std::function<void(const boost::system::error_code&, const tcp::endpoint&)>;

using EndpointIt = tcp::resolver::results_type::const_iterator;

// One endpoint after the other until one accepts; `last` is the error of the
// previous one, reported when none is left. (Resolver iterators share
// ownership of the results: nothing else needs keeping.)
void connect_from(tcp::socket& socket, EndpointIt it, EndpointIt end, boost::system::error_code last,
                  ConnectThen then) {
    for (; it != end; ++it) {
        const tcp::endpoint ep = it->endpoint();
        boost::system::error_code ec;
        // Opened by asio (an assigned fd would cost an epoll_ctl more at
        // close), made non-blocking once, then connected by hand.
        socket.open(ep.protocol(), ec);
        if (!ec) socket.non_blocking(true, ec);
        if (ec) {
            boost::system::error_code ignored;
            socket.close(ignored);
            last = ec;
            continue;
        }
        const int r = ::connect(socket.native_handle(), ep.data(), static_cast<socklen_t>(ep.size()));
        if (r != 0 && errno != EINPROGRESS) {  // loopback refuses at once
            last = boost::system::error_code(errno, boost::system::system_category());
            boost::system::error_code ignored;
            socket.close(ignored);
            continue;
        }
        if (r == 0) {
            asio::post(socket.get_executor(), [then = std::move(then), ep] { then({}, ep); });
            return;
        }
        socket.async_wait(tcp::socket::wait_write, [&socket, it, end, ep, then = std::move(then)](
                                                       const boost::system::error_code& e) mutable {
            if (e) return then(e, ep);  // aborted: the run is over
            int so_error = 0;
            socklen_t len = sizeof so_error;
            if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) so_error = errno;
            if (so_error == 0) return then({}, ep);
            boost::system::error_code ignored;
            socket.close(ignored);
            connect_from(socket, std::next(it), end,
                         boost::system::error_code(so_error, boost::system::system_category()), std::move(then));
        });
        return;
    }
    if (!last) last = asio::error::host_not_found;
    asio::post(socket.get_executor(), [then = std::move(then), last] { then(last, {}); });
}

}  // namespace

void connect_lean(tcp::socket& socket, const tcp::resolver::results_type& endpoints, ConnectThen then) {
    connect_from(socket, endpoints.begin(), endpoints.end(), {}, std::move(then));
}

void close_with_reset(tcp::socket& socket) noexcept {
    if (!socket.is_open()) return;
    boost::system::error_code ignored;
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
}

std::string duration_text(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
    return std::to_string(d.count()) + "ms";
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
    done_ = std::move(done);
    started_ = std::chrono::steady_clock::now();
    phase_ = "starting";
    deadline_.expires_after(timeout_);
    deadline_.async_wait([self = shared_from_this(), gen = gen_](const boost::system::error_code& ec) {
        if (!ec) self->on_timeout(gen);
    });
    try {
        start();
    } catch (const std::exception& e) {
        finish(false, e.what());
    }
}

void ProbeBase::cancel() noexcept {
    ++gen_;  // also silences a completion already posted by finish()
    done_ = nullptr;
    if (!open_) return;
    open_ = false;
    deadline_.cancel();
    resolver_.cancel();
    abort();
}

void ProbeBase::on_timeout(std::uint64_t gen) {
    if (gen != gen_ || !open_) return;
    finish(false, "timed out after " + duration_text(timeout_) + " (" + phase_ + ")");
}

void ProbeBase::finish(bool ok, std::string detail) {
    if (!open_) return;
    open_ = false;
    deadline_.cancel();
    resolver_.cancel();
    abort();
    // A failure may come from a stale address (a restarted container, a
    // changed /etc/hosts): ask again next time.
    if (!ok) endpoints_.reset();
    const auto latency =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
    // Posted, so a run that fails at once (spawn error, bad address) still
    // completes outside run() and the caller never re-enters itself.
    asio::post(io_, [self = shared_from_this(), gen = gen_, done = std::move(done_),
                     r = ProbeResult{ok, std::move(detail), latency}]() mutable {
        if (gen != self->gen_ || !done) return;
        done(std::move(r));
    });
    done_ = nullptr;
}

void ProbeBase::resolve(const std::string& host, std::uint16_t port,
                        std::function<void(const boost::system::error_code&, const Endpoints&)> then) {
    if (endpoints_) return then({}, *endpoints_);
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(host, ec);
    if (!ec) {
        endpoints_ = Endpoints::create(tcp::endpoint(addr, port), host, std::to_string(port));
        return then({}, *endpoints_);
    }
    phase_ = "resolving";
    resolver_.async_resolve(host, std::to_string(port), tcp::resolver::numeric_service,
                            guard([this, then = std::move(then)](const boost::system::error_code& e, Endpoints r) {
                                if (e) return then(e, r);
                                endpoints_ = r;
                                then(e, *endpoints_);
                            }));
}

}  // namespace vigil::health
