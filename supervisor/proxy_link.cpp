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
// The proxy's pools are compared with vigild's view this often, and this soon
// after a push that was not acknowledged.
constexpr std::chrono::seconds kReconcileEvery{30};
constexpr std::chrono::milliseconds kReconcileAfterFailure{500};

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
    for (auto& p : config.programs)
        if (p.kind == "proxy" && p.command.empty())
            p.command = "'" + find_proxy_binary() + "' -c '" + abs + "' --admin '" + config.daemon.state_dir +
                        "/proxy.sock'";
}

ProxyLink::ProxyLink(boost::asio::io_context& io, Supervisor& sup)
    : io_(io), sup_(sup), retry_(io), reconcile_timer_(io) {
    state_sub_ = sup_.subscribe([this](const ProcessRunner& r, const core::Decision& d) { on_state(r, d); });
    health_sub_ = sup_.subscribe_health(
        [this](const ProcessRunner& r, core::HealthStatus, core::HealthStatus, const std::string&) { refresh(r.name()); });
    reconfigure();
}

ProxyLink::~ProxyLink() {
    *alive_ = false;
    sup_.unsubscribe(state_sub_);
    sup_.unsubscribe(health_sub_);
}

void ProxyLink::reconfigure() {
    const config::Config& c = sup_.config();
    admin_socket_ = c.daemon.state_dir + "/proxy.sock";
    proxy_name_.clear();
    for (const auto& p : c.programs)
        if (p.kind == "proxy") proxy_name_ = p.name;
    pools_.clear();
    for (const auto& u : c.upstreams)
        for (const auto& s : u.servers)
            if (c.find(s)) pools_[u.name].push_back(s);
    if (proxy_up()) resync(true);
}

// Up as soon as its process exists: pushes queue behind the connect retries
// until the admin socket is bound, so no server the proxy's INI says is "up"
// stays wrongly up for longer than that.
bool ProxyLink::proxy_up() const {
    const ProcessRunner* proxy = enabled() ? sup_.find(proxy_name_) : nullptr;
    return proxy && proxy->pid() > 0 && proxy->state() != core::State::stopping;
}

ServerMode ProxyLink::desired(const std::string& process) const {
    const ProcessRunner* r = sup_.find(process);
    if (!r || r->state() != core::State::running) return ServerMode::down;
    const auto h = r->health();
    // With a healthcheck, only a passing one lets traffic in: "starting" is
    // not ready yet (Kubernetes' readiness, not Docker's "running").
    if (r->monitor() && (!h || *h != core::HealthStatus::healthy)) return ServerMode::down;
    return ServerMode::up;
}

ServerMode ProxyLink::effective(const std::string& process) const {
    auto it = held_.find(process);
    return it != held_.end() ? it->second : desired(process);
}

std::vector<std::string> ProxyLink::pools_of(const std::string& process) const {
    std::vector<std::string> out;
    for (const auto& [pool, members] : pools_)
        if (std::find(members.begin(), members.end(), process) != members.end()) out.push_back(pool);
    return out;
}

void ProxyLink::hold(const std::string& process, const std::string& state, Reply done) {
    held_[process] = proxy::parse_mode(state).value_or(ServerMode::down);
    push_member(process, std::move(done));
}

void ProxyLink::release(const std::string& process, Reply done) {
    if (!held_.erase(process)) return done ? done(200, "") : void();
    push_member(process, std::move(done));
}

// Pushes `process`'s effective state to every pool it is in, whether or not
// it changed, and calls `done` after the last answer.
void ProxyLink::push_member(const std::string& process, Reply done) {
    const auto pools = pools_of(process);
    if (pools.empty() || !proxy_up()) {
        if (done) done(pools.empty() ? 200 : 0, pools.empty() ? "" : "proxy is down");
        return;
    }
    struct Tally {
        std::size_t left;
        int worst = 200;
        std::string body;
        Reply done;
    };
    auto tally = std::make_shared<Tally>(Tally{pools.size(), 200, {}, std::move(done)});
    const ServerMode want = effective(process);
    for (const auto& pool : pools) {
        push_state(pool, process, want, [tally](int status, std::string body) {
            if (status == 0 || (status >= 400 && tally->worst != 0)) {
                tally->worst = status;
                tally->body = std::move(body);
            }
            if (--tally->left == 0 && tally->done) tally->done(tally->worst, std::move(tally->body));
        });
    }
}

// A push counts only once the proxy has acknowledged it (2xx): until then
// `sent_` says what is on its way, and a push that failed is forgotten, so
// the next change or the reconcile after it sends it again.
void ProxyLink::push_state(const std::string& pool, const std::string& process, ServerMode want, Reply done,
                           int attempts) {
    const std::string key = pool + "/" + process;
    sent_[key] = want;
    spdlog::info("{}: {} in pool {}", process, proxy::to_string(want), pool);
    send("POST", admin::server_state(pool, process), json{{field::state, proxy::to_string(want)}}.dump(),
         [this, alive = alive_, key, want, done = std::move(done)](int status, std::string body) {
             if (*alive) {
                 auto it = sent_.find(key);
                 if ((status < 200 || status >= 300) && it != sent_.end() && it->second == want) {
                     sent_.erase(it);  // not delivered: resend on the next refresh or reconcile
                     schedule_reconcile(kReconcileAfterFailure);
                 }
             }
             if (done) done(status, std::move(body));
         },
         attempts);
}

void ProxyLink::on_state(const ProcessRunner& r, const core::Decision&) {
    if (r.name() == proxy_name_) {
        if (r.pid() > 0 && r.pid() != proxy_pid_) {
            proxy_pid_ = r.pid();
            spdlog::info("{}: proxy started (pid {}), pushing every pool member's state", r.name(), r.pid());
            resync(true);
            schedule_reconcile(kReconcileEvery);
        } else if (r.pid() == 0 && proxy_pid_ != 0) {
            proxy_pid_ = 0;
            reconcile_timer_.cancel();
            // Nobody to tell: drop what is queued (the next start resyncs).
            while (queue_.size() > (busy_ ? 1u : 0u)) {
                auto reply = std::move(queue_.back().reply);
                queue_.pop_back();
                if (reply) reply(0, "proxy is down");
            }
        }
        return;
    }
    refresh(r.name());
}

void ProxyLink::refresh(const std::string& process) {
    if (!proxy_up()) return;  // resync when it is
    for (const auto& [pool, members] : pools_) {
        if (std::find(members.begin(), members.end(), process) == members.end()) continue;
        const ServerMode want = effective(process);
        auto it = sent_.find(pool + "/" + process);
        if (it != sent_.end() && it->second == want) continue;
        push_state(pool, process, want);
    }
}

void ProxyLink::schedule_reconcile(std::chrono::milliseconds after) {
    if (!enabled()) return;  // no proxy: no timer, no idle wake-up
    const auto when = std::chrono::steady_clock::now() + after;
    if (reconcile_armed_ && reconcile_timer_.expiry() <= when) return;  // an earlier one is due
    reconcile_armed_ = true;
    reconcile_timer_.expires_at(when);
    reconcile_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        reconcile_armed_ = false;
        reconcile();
    });
}

// Compares what the proxy says with vigild's view and pushes every member
// that differs: a push lost in transit, a proxy changed behind vigild's back.
void ProxyLink::reconcile() {
    if (!proxy_up()) return;  // the next start resyncs everything
    get(std::string(admin::pools), [this, alive = alive_](int status, std::string body) {
        if (!*alive) return;
        if (status != 200) {
            schedule_reconcile(kReconcileAfterFailure * 4);
            return;
        }
        std::map<std::string, std::string> actual;  // "pool/server" -> state
        const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.contains(field::pools) && j[field::pools].is_array())
            for (const json& p : j[field::pools])
                if (p.is_object() && p.contains(field::servers) && p[field::servers].is_array())
                    for (const json& s : p[field::servers])
                        if (s.is_object() && s.value(field::state, json()).is_string())
                            actual[p.value(field::name, "") + "/" + s.value(field::name, "")] = s[field::state];
        for (const auto& [pool, members] : pools_)
            for (const auto& m : members) {
                const ServerMode want = effective(m);
                auto it = actual.find(pool + "/" + m);
                if (it != actual.end() && it->second == proxy::to_string(want)) continue;
                spdlog::warn("{}: the proxy has it {} in pool {}, vigild wants {}: pushing again", m,
                             it == actual.end() ? "absent" : it->second, pool, proxy::to_string(want));
                sent_.erase(pool + "/" + m);
                push_state(pool, m, want);
            }
        schedule_reconcile(kReconcileEvery);
    });
}

void ProxyLink::resync(bool redefine_pools) {
    sent_.clear();
    const config::Config& c = sup_.config();
    if (redefine_pools) {
        // The proxy read the config when it started; an update since may have
        // changed pools, so their definitions go first.
        for (const auto& u : c.upstreams) {
            json servers = json::array();
            for (const auto& s : u.servers) {
                const config::Program* p = c.find(s);
                servers.push_back({{field::name, s},
                                   {field::address, p ? p->address : s},
                                   {field::state, proxy::to_string(p ? effective(s) : ServerMode::up)}});
            }
            json spec{{field::balance, u.balance == config::Balance::round_robin ? "round_robin" : "least_conn"},
                      {field::max_fails, u.max_fails},
                      {field::fail_timeout_ms, u.fail_timeout.count()},
                      {field::slow_start_ms, u.slow_start.count()},
                      {field::max_ejection_percent, u.max_ejection_percent},
                      {field::max_ejection_time_ms, u.max_ejection_time.count()},
                      {field::eject_on_5xx, u.eject_on_5xx},
                      {field::servers, servers}};
            send("PUT", admin::pool(u.name), spec.dump(),
                 [this, alive = alive_](int status, std::string) {
                     if (*alive && (status < 200 || status >= 300)) schedule_reconcile(kReconcileAfterFailure);
                 },
                 kConnectAttempts);
        }
    }
    for (const auto& [pool, members] : pools_)
        for (const auto& m : members) push_state(pool, m, effective(m), nullptr, kConnectAttempts);
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
    if (status == 0 || status >= 400)
        spdlog::warn("proxy admin {} {}: {}", r.method, r.target, status == 0 ? body : "HTTP " + std::to_string(status));
    Request done = std::move(r);
    queue_.pop_front();
    busy_ = false;
    if (done.reply) done.reply(status, std::move(body));
    pump();
}

}  // namespace vigil::supervisor
