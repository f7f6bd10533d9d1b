#include "supervisor/ctl/wait.hpp"

#include <nlohmann/json.hpp>

namespace vigil::ctl {

WaitResult wait_for(const Client& client, const std::string& spec, const std::string& goal, long timeout_s) {
    using json = nlohmann::json;
    WaitResult w;
    // vigild answers at its own deadline; the socket's is a margin later,
    // for a vigild that stopped answering altogether.
    auto reply = client.call("POST", "/v1/programs/" + path_segment(spec) + "/wait",
                             json{{"goal", goal}, {"timeout", timeout_s}}.dump(), w.error,
                             std::chrono::seconds(timeout_s + 30));
    if (!reply) return w;
    w.status = reply->status;
    const json j = json::parse(reply->body, nullptr, false);
    if (!j.is_object()) {
        w.error = "unexpected reply from vigild (HTTP " + std::to_string(w.status) + ")";
        return w;
    }
    if (j.contains("error") && j["error"].is_string()) w.error = j["error"].get<std::string>();
    if (j.contains("results") && j["results"].is_array())
        for (const auto& r : j["results"])
            w.processes.push_back({r.value("name", ""), r.value("state", ""), r.value("health", ""),
                                   r.value("message", ""), r.value("ok", false)});
    return w;
}

}  // namespace vigil::ctl
