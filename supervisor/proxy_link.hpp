// vigild's side of vigil-proxy: carries out the pool commands of the pure
// core::ProcessSet (which decides what each pool member should be and when
// to push, reconcile or resync: see process_set.hpp) over the proxy's admin
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

    // Rolling restarts. The pools `process` serves in (empty: not behind
    // the proxy), and whether the proxy process is there to be told.
    std::vector<std::string> pools_of(const std::string& process) const { return sup_.set().pools_of(process); }
    bool proxy_running() const { return sup_.set().proxy_up(); }
    // Holds `process` at `state` ("draining") in every pool it is in: until
    // release(), its own state and health changes are not pushed (vigild's
    // health checks must not put it back "up" in the middle of a drain), and
    // a resync after a proxy restart pushes the held state. release() pushes
    // what vigild's view says again. `done` runs once the proxy has answered
    // every push (the worst status: 0 when unreachable), or at once when
    // there is nothing to tell.
    void hold(const std::string& process, const std::string& state, Reply done);
    void release(const std::string& process, Reply done);
    bool held(const std::string& process) const { return sup_.set().held_member(process); }

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
    void drop_queue();
    void barrier(std::uint64_t id);
    // A hold or release's pushes, answered: `done` once the last one is.
    void tally(std::uint64_t ticket, int status, std::string body);
    std::uint64_t begin_tally(const std::string& process, Reply done);
    void send(std::string method, std::string target, std::string body, Reply reply = nullptr, int attempts = 1);
    void pump();
    void finish(int status, std::string body);
    boost::asio::io_context& io_;
    Supervisor& sup_;
    std::string admin_socket_;
    std::string proxy_name_;  // the kind = proxy process
    struct Tally {
        std::size_t left = 0;
        int worst = 200;
        std::string body;
        Reply done;
    };
    std::map<std::uint64_t, Tally> tallies_;
    std::uint64_t next_ticket_ = 1;
    std::deque<Request> queue_;
    bool busy_ = false;
    boost::asio::steady_timer retry_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::supervisor
