// vigild's side of vigil-proxy: keeps the proxy's pools in step with what
// vigild knows, the moment it knows it. A pool member (a process named in
// an [upstream:*]) is "up" while it is RUNNING and healthy (or has no
// healthcheck), "down" otherwise; every change is pushed to the proxy's
// admin socket at once, in order, and everything is pushed again whenever
// the proxy (re)starts. A push counts only when the proxy answers 2xx; one
// that failed is sent again, and the proxy's pools are compared with
// vigild's view (reconciled) soon after a failure and every 30 s while a
// proxy runs. The proxy keeps its own passive health too.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/model.hpp"
#include "proxy/admin_protocol.hpp"
#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {

// kind = proxy with no command runs vigil-proxy (found beside vigild, or in
// the build tree, or on PATH) on the same config file.
void fill_proxy_command(config::Config& config, const std::string& config_path);

class ProxyLink {
public:
    using Reply = std::function<void(int status, std::string body)>;

    ProxyLink(boost::asio::io_context& io, Supervisor& sup);
    ~ProxyLink();

    bool enabled() const { return !proxy_name_.empty(); }
    // Re-reads pools and the proxy program from the supervisor's config
    // (after an update) and pushes pool definitions and states again.
    void reconfigure();
    // GET on the proxy's admin API (`vigilctl upstreams`, /metrics).
    void get(const std::string& target, Reply reply);

    // Rolling restarts. The pools `process` serves in (empty: not behind
    // the proxy), and whether the proxy process is there to be told.
    std::vector<std::string> pools_of(const std::string& process) const;
    bool proxy_running() const { return proxy_up(); }
    // Holds `process` at `state` ("draining") in every pool it is in: until
    // release(), its own state and health changes are not pushed (vigild's
    // health checks must not put it back "up" in the middle of a drain), and
    // a resync after a proxy restart pushes the held state. release() pushes
    // what vigild's view says again. `done` runs once the proxy has answered
    // every push (the worst status: 0 when unreachable), or at once when
    // there is nothing to tell.
    void hold(const std::string& process, const std::string& state, Reply done);
    void release(const std::string& process, Reply done);
    bool held(const std::string& process) const { return held_.count(process) > 0; }

private:
    struct Request {
        std::string method, target, body;
        Reply reply;
        int attempts_left = 0;
    };

    void on_state(const ProcessRunner& r, const core::Decision&);
    void refresh(const std::string& process);
    void resync(bool redefine_pools);
    void push_state(const std::string& pool, const std::string& process, proxy::ServerMode want,
                    Reply done = nullptr, int attempts = 1);
    void schedule_reconcile(std::chrono::milliseconds after);
    void reconcile();
    void send(std::string method, std::string target, std::string body, Reply reply = nullptr, int attempts = 1);
    void pump();
    void finish(int status, std::string body);
    proxy::ServerMode desired(const std::string& process) const;
    proxy::ServerMode effective(const std::string& process) const;  // held state, else desired()
    void push_member(const std::string& process, Reply done);
    bool proxy_up() const;

    boost::asio::io_context& io_;
    Supervisor& sup_;
    std::string admin_socket_;
    std::string proxy_name_;                                 // the kind = proxy process
    pid_t proxy_pid_ = 0;                                    // the proxy process last synced
    std::map<std::string, std::vector<std::string>> pools_;  // pool -> member process names
    std::map<std::string, proxy::ServerMode> sent_;          // "pool/server" -> last state sent, not failed
    std::map<std::string, proxy::ServerMode> held_;          // process -> state a rolling restart holds
    std::deque<Request> queue_;
    bool busy_ = false;
    std::uint64_t state_sub_ = 0, health_sub_ = 0;
    boost::asio::steady_timer retry_;
    boost::asio::steady_timer reconcile_timer_;
    bool reconcile_armed_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::supervisor
