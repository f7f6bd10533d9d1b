#include "proxy/worker.hpp"

#include <fcntl.h>

#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <random>

namespace vigil::proxy {

namespace {
constexpr auto tick_period = std::chrono::milliseconds(200);
constexpr auto idle_upstream_max = std::chrono::seconds(30);  // below common upstream keepalive_timeouts
}  // namespace

Worker::Worker(int index, const ProxyOptions& opts, const std::vector<ListenerShared>& listeners,
               std::shared_ptr<const Snapshot> snap, std::vector<std::shared_ptr<asio::ssl::context>> tls)
    : index_(index),
      opts_(opts),
      listeners_(listeners),
      // UNSAFE_IO: sockets are registered and used only on this worker's
      // thread; other threads only post (the scheduler keeps its lock).
      io_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      tls_(std::move(tls)),
      ticker_(io_),
      log_(opts.access_log_fd) {
    std::random_device rd;
    std::uint64_t r = (std::uint64_t{rd()} << 32) ^ rd() ^ static_cast<std::uint64_t>(index);
    std::snprintf(rid_prefix_, sizeof rid_prefix_, "%016llx", static_cast<unsigned long long>(r));
    apply_snapshot(std::move(snap));
}

Worker::~Worker() {
    if (thread_.joinable()) {
        io_.stop();
        thread_.join();
    }
}

void Worker::open_listeners() {
    for (const ListenerShared& l : listeners_) {
        auto acc = std::make_unique<tcp::acceptor>(io_);
        tcp::endpoint ep(asio::ip::make_address(l.spec.host), l.spec.port);
        if (l.inherited_fd >= 0) {
            // vigild's socket, shared by every worker (one accept queue): it
            // outlives this process, so none of its connections is refused.
            const int fd = ::fcntl(l.inherited_fd, F_DUPFD_CLOEXEC, 3);
            if (fd < 0) throw std::system_error(errno, std::generic_category(), "dup of an inherited socket");
            acc->assign(ep.protocol(), fd);
            acceptors_.push_back(std::move(acc));
            continue;
        }
        acc->open(ep.protocol());
        acc->set_option(asio::socket_base::reuse_address(true));
        // Each worker binds the same port: the kernel spreads connections
        // across workers, no accept lock, no thundering herd.
        int one = 1;
        if (::setsockopt(acc->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
            throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
        acc->bind(ep);
        acc->listen(4096);
        acceptors_.push_back(std::move(acc));
    }
}

void Worker::start() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i) accept(i);
    tick();
    thread_ = std::thread([this] {
        stat_shard = static_cast<std::uint32_t>(index_) % stat_shards;
        try {
            io_.run();
        } catch (const std::exception& e) {
            spdlog::critical("worker {}: {}", index_, e.what());
            std::abort();  // vigild restarts us; better than a half-dead worker
        }
        log_.flush();
    });
}

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

void Worker::accept(std::size_t li) {
    acceptors_[li]->async_accept([this, li](boost::system::error_code ec, tcp::socket sock) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            // Even when a graceful stop came between the accept and this
            // handler: the client is served (with Connection: close), not
            // dropped with its request on the way.
            boost::system::error_code ignored;
            sock.set_option(tcp::no_delay(true), ignored);
            if (listeners_[li].spec.tcp) start_tcp_session(li, std::move(sock));
            else start_session(li, std::move(sock));
        }
        if (stopping_) return;
        if (ec) {
            // EMFILE and friends: back off briefly instead of spinning.
            spdlog::warn("accept on {}: {}", listeners_[li].spec.name, ec.message());
            auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(50));
            t->async_wait([this, li, t](boost::system::error_code) { if (!stopping_) accept(li); });
            return;
        }
        accept(li);
    });
}

void Worker::tick() {
    ticker_.expires_after(tick_period);
    ticker_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        const auto now = Clock::now();
        // Deadlines: one sweep per tick instead of a timer per operation.
        for (SessionBase* s = sessions_; s;) {
            SessionBase* next = s->next;  // on_timeout never unlinks synchronously
            if (s->deadline <= now) {
                s->deadline = TimePoint::max();
                s->on_timeout();
            }
            s = next;
        }
        log_.set_time(std::time(nullptr));
        log_.flush();
        if (++ticks_ % 5 == 0) {
            for (auto& list : idle_) {
                std::erase_if(list, [&](const std::unique_ptr<UpstreamConn>& c) { return now - c->idle_since > idle_upstream_max; });
            }
        }
        if (stopping_ && session_count_ == 0) {
            maybe_finish();
            return;
        }
        tick();
    });
}

void Worker::post_snapshot(std::shared_ptr<const Snapshot> snap) {
    asio::post(io_, [this, snap = std::move(snap)]() mutable { apply_snapshot(std::move(snap)); });
}

void Worker::post_tls(std::size_t listener, std::shared_ptr<asio::ssl::context> ctx) {
    asio::post(io_, [this, listener, ctx = std::move(ctx)]() mutable { tls_[listener] = std::move(ctx); });
}

void Worker::post_stop(std::function<void()> taken) {
    asio::post(io_, [this, taken = std::move(taken)] {
        if (stopping_) return;
        stopping_ = true;
        for (auto& a : acceptors_) {
            boost::system::error_code ignored;
            a->close(ignored);
        }
        for (SessionBase* s = sessions_; s;) {
            SessionBase* next = s->next;
            s->on_stop();
            s = next;
        }
        if (taken) taken();
        maybe_finish();
    });
}

void Worker::maybe_finish() {
    if (!stopping_ || session_count_ != 0) return;
    idle_.clear();
    ticker_.cancel();
    log_.flush();
}

void Worker::apply_snapshot(std::shared_ptr<const Snapshot> snap) {
    usable_.assign(snap->server_ids, 0);
    cut_.assign(snap->server_ids, 1);
    for (const Pool& p : snap->pools)
        for (const ServerEntry& s : p.servers) {
            if (s.mode == ServerMode::up) usable_[s.stats->id] = 1;
            if (s.mode != ServerMode::down) cut_[s.stats->id] = 0;
        }
    if (idle_.size() < snap->server_ids) idle_.resize(snap->server_ids);
    // Drained, downed and removed servers lose their idle connections now;
    // in-flight requests keep theirs until they finish.
    for (std::size_t id = 0; id < idle_.size(); ++id)
        if (!usable_[id]) idle_[id].clear();
    snap_ = std::move(snap);
    for (SessionBase* s = sessions_; s;) {
        SessionBase* next = s->next;  // never unlinks synchronously
        s->on_pools_changed();
        s = next;
    }
}

std::unique_ptr<UpstreamConn> Worker::take_idle(std::uint32_t id) {
    if (id >= idle_.size() || idle_[id].empty()) return nullptr;
    auto c = std::move(idle_[id].back());  // LIFO: the warmest connection
    idle_[id].pop_back();
    return c;
}

void Worker::give_back(std::unique_ptr<UpstreamConn> c) {
    const auto id = c->server_id;
    if (stopping_ || id >= usable_.size() || !usable_[id] || idle_[id].size() >= opts_.idle_per_server) return;
    c->idle_since = Clock::now();
    idle_[id].push_back(std::move(c));
}

void Worker::purge_idle(std::uint32_t id) {
    if (id < idle_.size()) idle_[id].clear();
}

void Worker::link(SessionBase* s) noexcept {
    s->next = sessions_;
    s->prev = nullptr;
    if (sessions_) sessions_->prev = s;
    sessions_ = s;
    ++session_count_;
}

void Worker::unlink(SessionBase* s) noexcept {
    if (s->prev) s->prev->next = s->next;
    else sessions_ = s->next;
    if (s->next) s->next->prev = s->prev;
    --session_count_;
    if (stopping_ && session_count_ == 0) asio::post(io_, [this] { maybe_finish(); });
}

std::string_view Worker::next_request_id() noexcept {
    static constexpr char hex[] = "0123456789abcdef";
    std::memcpy(rid_, rid_prefix_, 16);
    std::uint64_t v = ++rid_counter_;
    for (int i = 31; i >= 16; --i, v >>= 4) rid_[i] = hex[v & 15];
    return {rid_, 32};
}

}  // namespace vigil::proxy
