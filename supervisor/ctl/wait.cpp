#include "supervisor/ctl/wait.hpp"

#include <nlohmann/json.hpp>

namespace vigil::ctl {

WaitResult wait_for(const Client& client, const std::string& spec, control::Goal goal, long timeout_s) {
    using json = nlohmann::json;
    namespace field = control::field;
    WaitResult w;
    // vigild answers at its own deadline; the socket's is a margin later,
    // for a vigild that stopped answering altogether.
    auto reply = client.call("POST", control::route::program(path_segment(spec), control::route::wait),
                             json{{field::goal, control::to_string(goal)}, {field::timeout, timeout_s}}.dump(), w.error,
                             std::chrono::seconds(timeout_s + 30));
    if (!reply) return w;
    w.status = reply->status;
    const json j = json::parse(reply->body, nullptr, false);
    if (!j.is_object()) {
        w.error = "unexpected reply from vigild (HTTP " + std::to_string(w.status) + ")";
        return w;
    }
    if (j.contains(field::error) && j[field::error].is_string()) w.error = j[field::error].get<std::string>();
    if (j.contains(field::results) && j[field::results].is_array())
        for (const auto& r : j[field::results])
            w.processes.push_back({r.value(field::name, ""), r.value(field::state, ""), r.value(field::health, ""),
                                   r.value(field::message, ""), r.value(field::ok, false)});
    return w;
}

}  // namespace vigil::ctl
