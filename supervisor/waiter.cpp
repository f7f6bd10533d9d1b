#include "supervisor/waiter.hpp"

#include "supervisor/control_protocol.hpp"

namespace vigil::supervisor {

using json = nlohmann::json;
namespace field = control::field;

Waiter::Waiter(boost::asio::io_context&, Supervisor& sup, Done done) : sup_(sup), done_(std::move(done)) {}

void Waiter::add(const std::string& name, Goal goal) { goals_.emplace_back(name, goal); }

void Waiter::start(std::chrono::milliseconds timeout) {
    sup_.wait(goals_, timeout, [self = shared_from_this()](const core::Command& c) {
        json results = json::array();
        for (const auto& r : c.results)
            results.push_back({{field::name, r.name},
                               {field::ok, r.ok},
                               {field::state, r.state},
                               {field::health, r.health},
                               {field::message, r.message}});
        self->done_(c.ok, c.timed_out, std::move(results));
    });
}

}  // namespace vigil::supervisor
