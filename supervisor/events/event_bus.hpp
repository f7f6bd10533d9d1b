// supervisord's event system for vigild: turns what the Supervisor reports
// (state changes, program output, config updates) and the clock into
// supervisord's events, and hands each to the [eventlistener:x] pools that
// subscribe to its type. It only observes: the Supervisor decides nothing
// differently because of it, except that a listener breaking the protocol
// is killed (event_listener_pool.hpp). docs/event-listeners.md.
#pragma once

#include <sys/types.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "supervisor/core/config_diff.hpp"
#include "supervisor/events/comm_capture.hpp"
#include "supervisor/events/event_listener_pool.hpp"

namespace vigil::supervisor {
class Supervisor;
class ProcessRunner;
}  // namespace vigil::supervisor

namespace vigil::supervisor::events {

class EventBus {
public:
    EventBus(boost::asio::io_context& io, Supervisor& sup);
    ~EventBus();
    EventBus(const EventBus&) = delete;
    EventBus& operator=(const EventBus&) = delete;

    // Before Supervisor::start(): PROCESS_GROUP_ADDED for every group, then
    // SUPERVISOR_STATE_CHANGE_RUNNING, as supervisord starts; ticks begin.
    void start();
    // Shutdown begins: SUPERVISOR_STATE_CHANGE_STOPPING (listeners stop
    // last, so they can still receive it).
    void stopping();
    // REMOTE_COMMUNICATION, for XML-RPC's supervisor.sendRemoteCommEvent.
    void remote_communication(const std::string& type, const std::string& data);

    // Any event: given to every pool subscribed to `type`. Returns how many took it.
    std::size_t publish(std::string type, std::string payload);
    const EventListenerPool* pool(const std::string& name) const;

private:
    struct Watch {
        std::weak_ptr<ProcessRunner> runner;
        std::uint64_t id = 0;
        CommCapture out{0}, err{0};
        pid_t last_pid = 0;
    };

    void on_transition(const ProcessRunner& r, const core::Decision& d);
    void on_update();
    void on_output(const std::string& process, int fd, std::string_view data);
    void watch(const ProcessRunner& r);
    void sync_pools();
    std::set<std::string> group_names() const;
    void arm_tick(std::size_t i);

    boost::asio::io_context& io_;
    Supervisor& sup_;
    std::uint64_t observer_ = 0, update_observer_ = 0;
    std::map<std::string, std::unique_ptr<EventListenerPool>> pools_;
    std::map<std::string, Watch> watched_;
    std::set<std::string> groups_;
    std::uint64_t next_serial_ = 0;
    bool started_ = false;

    static constexpr std::array<int, 3> kTickPeriods{5, 60, 3600};
    std::array<std::unique_ptr<boost::asio::steady_timer>, 3> tick_timers_;
    std::array<std::int64_t, 3> last_tick_{};
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::supervisor::events
