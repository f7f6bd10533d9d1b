// One [eventlistener:NAME] at run time: the pool's bounded event buffer and
// the protocol with each of its listener processes (supervisord's
// EventListenerPool). An event goes to the first listener that is RUNNING
// and READY; with none, it waits in the buffer (buffer_size, the oldest is
// dropped and logged when full). A FAIL, or a listener that dies holding
// an event, puts the event back at the head. A listener that breaks the
// protocol or stays silent past ready_timeout is killed, so it is
// restarted like any crashed program; the others keep receiving events.
// The processes themselves are ordinary programs run by the Supervisor.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/model.hpp"
#include "supervisor/events/event_format.hpp"
#include "supervisor/events/listener_protocol.hpp"

namespace vigil::supervisor {
class Supervisor;
class ProcessRunner;
}  // namespace vigil::supervisor

namespace vigil::supervisor::events {

// An event as published once, shared by every pool that takes it.
struct Published {
    Event event;
    std::uint64_t serial = 0;  // supervisord's global serial
};

class EventListenerPool {
public:
    EventListenerPool(boost::asio::io_context& io, Supervisor& sup, config::EventListenerPool config);
    ~EventListenerPool();
    EventListenerPool(const EventListenerPool&) = delete;
    EventListenerPool& operator=(const EventListenerPool&) = delete;

    const config::EventListenerPool& config() const { return config_; }
    void reconfigure(config::EventListenerPool config);
    bool wants(std::string_view type) const;

    void accept(std::shared_ptr<const Published> e);
    // The listener's stdout, and its state changes.
    void on_output(const std::string& process, std::string_view data);
    void on_transition(const ProcessRunner& r, core::State from, core::State to);

    std::size_t buffered() const { return buffer_.size(); }

private:
    struct Queued {
        std::shared_ptr<const Published> published;
        std::uint64_t pool_serial = 0;
    };
    struct Listener {
        explicit Listener(boost::asio::io_context& io) : ready_timer(io) {}
        ListenerProtocol protocol;
        std::optional<Queued> holding;  // the event it is BUSY with
        boost::asio::steady_timer ready_timer;
        unsigned timer_generation = 0;
    };

    void push(Queued q, bool head);
    void dispatch();
    Listener& listener(const std::string& process);
    void give_back(Listener& l);  // its event returns to the head of the buffer
    void arm_ready_timer(const std::string& process, Listener& l);
    void cancel_ready_timer(Listener& l);
    void violated(const std::string& process, Listener& l, const std::string& why);

    boost::asio::io_context& io_;
    Supervisor& sup_;
    config::EventListenerPool config_;
    std::deque<Queued> buffer_;
    std::uint64_t next_pool_serial_ = 0;
    std::map<std::string, std::unique_ptr<Listener>> listeners_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for timer handlers
};

}  // namespace vigil::supervisor::events
