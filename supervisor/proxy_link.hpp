// vigild's side of vigil-proxy: carries out the pool commands of the pure
// core::ProcessSet (which decides what each pool member should be and when
// to push, reconcile or resync, and what a rolling restart holds and when it
// counts a draining instance's requests: see process_set.hpp) over the proxy's admin
// socket, one request at a time and in order, and reports each answer back
// to it (a push counts only on 2xx). The proxy keeps its own passive health
// too.
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
    // Re-reads the admin socket and the proxy program from the supervisor's
    // config (after an update; the set resyncs the pools itself).
    void reconfigure();
    // GET on the proxy's admin API (`vigilctl upstreams`, /metrics).
    void get(const std::string& target, Reply reply);

private:
    struct Request {
        std::string method, target, body;
        Reply reply;
        int attempts_left = 0;
    };

    void execute(const core::Command& c);
    void push(const core::Command& c);
    void define_pools();
    void check_pools();
    void count_active(const core::Command& c);
    void drop_queue();
    void barrier(std::uint64_t id);
    void send(std::string method, std::string target, std::string body, Reply reply = nullptr, int attempts = 1);
    void pump();
    void finish(int status, std::string body);
    boost::asio::io_context& io_;
    Supervisor& sup_;
    std::string admin_socket_;
    std::string proxy_name_;  // the kind = proxy process
    std::deque<Request> queue_;
    bool busy_ = false;
    boost::asio::steady_timer retry_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::supervisor
