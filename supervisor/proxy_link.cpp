#include "supervisor/proxy_link.hpp"

#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include "proxy/admin_protocol.hpp"

namespace vigil::supervisor {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using local = boost::asio::local::stream_protocol;
using json = nlohmann::json;
using proxy::ServerMode;
namespace admin = proxy::admin;
namespace field = proxy::admin::field;

constexpr std::chrono::seconds kRequestTimeout{2};
constexpr std::chrono::milliseconds kRetryDelay{100};
constexpr int kConnectAttempts = 50;  // 5 s for a starting proxy to bind its admin socket

// One HTTP exchange on a Unix socket, with a deadline; `done` gets the
// status (0 when the socket could not be reached) and the body.
class Exchange : public std::enable_shared_from_this<Exchange> {
public:
    Exchange(boost::asio::io_context& io, std::function<void(int, std::string)> done)
        : socket_(io), timer_(io), done_(std::move(done)) {}

    void run(const std::string& path, const std::string& method, const std::string& target, const std::string& body) {
        req_ = {http::string_to_verb(method), target, 11};
        req_.set(http::field::host, "vigil-proxy");
        req_.set(http::field::content_type, "application/json");
        req_.body() = body;
        req_.keep_alive(false);
        req_.prepare_payload();
        timer_.expires_after(kRequestTimeout);
        timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (!ec) self->socket_.close();
        });
        socket_.async_connect(local::endpoint(path), [self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec) return self->complete(0, ec.message());
            http::async_write(self->socket_, self->req_, [self](const beast::error_code& ec, std::size_t) {
                if (ec) return self->complete(0, ec.message());
                http::async_read(self->socket_, self->buf_, self->res_, [self](const beast::error_code& ec, std::size_t) {
                    if (ec) return self->complete(0, ec.message());
                    self->complete(static_cast<int>(self->res_.result_int()), std::move(self->res_.body()));
                });
            });
        });
    }

private:
    void complete(int status, std::string body) {
        if (!done_) return;
        timer_.cancel();
        auto done = std::move(done_);
        done_ = nullptr;
        done(status, std::move(body));
    }

    local::socket socket_;
    boost::asio::steady_timer timer_;
    std::function<void(int, std::string)> done_;
    http::request<http::string_body> req_;
    http::response<http::string_body> res_;
    beast::flat_buffer buf_;
};

std::string find_proxy_binary() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
    for (const auto& candidate : {self / "vigil-proxy", self / "../proxy/vigil-proxy"})
        if (::access(candidate.c_str(), X_OK) == 0) return std::filesystem::weakly_canonical(candidate, ec).string();
    return "vigil-proxy";  // from PATH
}

}  // namespace

void fill_proxy_command(config::Config& config, const std::string& config_path) {
    std::error_code ec;
    const std::string abs = std::filesystem::absolute(config_path, ec).string();
    // Its drain ends (remaining connections cut, exit 0) a little before
    // vigild's SIGKILL at stopwaitsecs.
    for (auto& p : config.programs)
        if (p.kind == "proxy" && p.command.empty())
            p.command = "'" + find_proxy_binary() + "' -c '" + abs + "' --admin '" + config.daemon.state_dir +
                        "/proxy.sock' --grace " + std::to_string(p.stopwaitsecs.count() * 9 / 10) + "ms";
}

ProxyLink::ProxyLink(boost::asio::io_context& io, Supervisor& sup) : io_(io), sup_(sup), retry_(io) {
    reconfigure();
    sup_.set_proxy_executor([this](const core::Command& c) { execute(c); });
}

ProxyLink::~ProxyLink() {
    *alive_ = false;
    sup_.set_proxy_executor(nullptr);
}

void ProxyLink::reconfigure() {
    admin_socket_ = sup_.config().daemon.state_dir + "/proxy.sock";
    proxy_name_ = sup_.set().proxy_name();
}

void ProxyLink::execute(const core::Command& c) {
    switch (c.type) {
        case core::Command::Type::set_member: return push(c);
        case core::Command::Type::define_pools: return define_pools();
        case core::Command::Type::check_pools: return check_pools();
        case core::Command::Type::proxy_gone: return drop_queue();
        case core::Command::Type::handover_barrier: return barrier(c.id);
        case core::Command::Type::count_active: return count_active(c);
        default: return;
    }
}

// One member's state to one pool; the answer goes back to the set, which
// counts the push only on 2xx.
void ProxyLink::push(const core::Command& c) {
    spdlog::info("{}: {}", c.name, c.reason);
    send("POST", admin::server_state(c.pool, c.name), json{{field::state, proxy::to_string(c.mode)}}.dump(),
         [this, alive = alive_, c](int status, std::string body) {
             if (*alive) sup_.member_ack(c, status, body);
         },
         c.proxy_starting ? kConnectAttempts : 1);
}

// The proxy read the config when it started; an update since may have
// changed pools, so their definitions go before the members' states.
void ProxyLink::define_pools() {
    const config::Config& c = sup_.config();
    for (const auto& u : c.upstreams) {
        json servers = json::array();
        for (const auto& s : u.servers) {
            const config::Program* p = c.find(s);
            servers.push_back({{field::name, s},
                               {field::address, p ? p->address : s},
                               {field::state, proxy::to_string(p ? sup_.set().member_mode(u.name, s) : ServerMode::up)}});
        }
        json spec{{field::balance, u.balance == config::Balance::round_robin ? admin::balance::round_robin
                                                                                  : admin::balance::least_conn},
                  {field::max_fails, u.max_fails},
                  {field::fail_timeout_ms, u.fail_timeout.count()},
                  {field::slow_start_ms, u.slow_start.count()},
                  {field::max_ejection_percent, u.max_ejection_percent},
                  {field::max_ejection_time_ms, u.max_ejection_time.count()},
                  {field::eject_on_5xx, u.eject_on_5xx},
                  {field::servers, servers}};
        send("PUT", admin::pool(u.name), spec.dump(),
             [this, alive = alive_](int status, std::string) {
                 if (*alive && (status < 200 || status >= 300)) sup_.pools_not_defined();
             },
             kConnectAttempts);
    }
}

// What the proxy says each member is, for the set to compare with its view.
void ProxyLink::check_pools() {
    get(std::string(admin::pools), [this, alive = alive_](int status, std::string body) {
        if (!*alive) return;
        if (status != 200) return sup_.pools_report(std::nullopt);
        std::map<std::string, std::string> actual;  // "pool/server" -> state
        const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.contains(field::pools) && j[field::pools].is_array())
            for (const json& p : j[field::pools])
                if (p.is_object() && p.contains(field::servers) && p[field::servers].is_array())
                    for (const json& s : p[field::servers])
                        if (s.is_object() && s.value(field::state, json()).is_string())
                            actual[p.value(field::name, "") + "/" + s.value(field::name, "")] = s[field::state];
        sup_.pools_report(actual);
    });
}

// A handover's new proxy has its pools once everything queued before this
// point has been answered (or given up on): then the old one may stop.
void ProxyLink::barrier(std::uint64_t id) {
    send("", "", "", [this, alive = alive_, id](int, std::string) {
        if (*alive) sup_.pools_handed_over(id);
    });
}

// A draining instance's requests in flight, summed over its pools; nullopt
// to the set when some pool did not say.
void ProxyLink::count_active(const core::Command& c) {
    struct Tally {
        std::size_t left;
        long active = 0;
        bool known = true;
    };
    const auto pools = sup_.set().pools_of(c.name);
    if (pools.empty()) return sup_.active_count(c.id, c.ticket, std::nullopt);
    auto tally = std::make_shared<Tally>(Tally{pools.size()});
    for (const auto& pool : pools)
        get(admin::server(pool, c.name), [this, alive = alive_, tally, c](int status, std::string body) {
            if (!*alive) return;
            const json j = json::parse(body, nullptr, false);
            if (status == 200 && j.is_object() && j.contains(field::active) && j[field::active].is_number())
                tally->active += j[field::active].get<long>();
            else
                tally->known = false;
            if (--tally->left == 0)
                sup_.active_count(c.id, c.ticket, tally->known ? std::optional<long>(tally->active) : std::nullopt);
        });
}

// Nobody to tell: drop what is queued (the next start resyncs).
void ProxyLink::drop_queue() {
    while (queue_.size() > (busy_ ? 1u : 0u)) {
        auto reply = std::move(queue_.back().reply);
        queue_.pop_back();
        if (reply) reply(0, "proxy is down");
    }
}

void ProxyLink::get(const std::string& target, Reply reply) {
    if (!enabled()) return reply(0, "no kind = proxy program is configured");
    send("GET", target, "", std::move(reply));
}

// Requests go out one at a time, so the proxy sees changes in the order
// vigild decided them.
void ProxyLink::send(std::string method, std::string target, std::string body, Reply reply, int attempts) {
    queue_.push_back({std::move(method), std::move(target), std::move(body), std::move(reply), attempts});
    pump();
}

void ProxyLink::pump() {
    while (!busy_ && !queue_.empty() && queue_.front().method.empty()) {  // a barrier: all before it answered
        Request b = std::move(queue_.front());
        queue_.pop_front();
        if (b.reply) b.reply(200, "");
    }
    if (busy_ || queue_.empty()) return;
    busy_ = true;
    const Request& r = queue_.front();
    auto ex = std::make_shared<Exchange>(io_, [this, alive = alive_](int status, std::string body) {
        if (*alive) finish(status, std::move(body));
    });
    ex->run(admin_socket_, r.method, r.target, r.body);
}

void ProxyLink::finish(int status, std::string body) {
    Request& r = queue_.front();
    if (status == 0 && --r.attempts_left > 0) {
        // The proxy is starting (admin socket not bound yet): try again shortly.
        retry_.expires_after(kRetryDelay);
        retry_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
            if (ec || !*alive) return;
            busy_ = false;
            pump();
        });
        return;
    }
    // A proxy that is stopping or gone cannot be told anything, and that
    // is no news: its stop or exit is in the log already.
    if (status == 0 || status >= 400)
        spdlog::log(status == 0 && !sup_.set().proxy_up() ? spdlog::level::debug : spdlog::level::warn,
                    "proxy admin {} {}: {}", r.method, r.target, status == 0 ? body : "HTTP " + std::to_string(status));
    Request done = std::move(r);
    queue_.pop_front();
    busy_ = false;
    if (done.reply) done.reply(status, std::move(body));
    pump();
}

}  // namespace vigil::supervisor
