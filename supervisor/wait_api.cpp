// POST /v1/programs/{spec}/wait: the server side of `vigilctl wait` and of
// the waits in `vigilctl restore`. vigild answers when every process of
// spec has reached the goal, cannot reach it any more (FATAL, EXITED,
// stopped by hand), or the timeout passed — one request, no polling, and no
// window between reading the states and watching for changes (waiter.hpp).
//
//   body    {"goal": "running" | "healthy" | "stopped", "timeout": 60}   (both optional)
//   200     {"ok": true,  "goal", "results": [{"name","ok","state","health","message"}…]}
//   409     {"ok": false, …}  some process cannot reach the goal
//   408     {"ok": false, "error": "timed out …", …}  some did not within the timeout
//   400 bad body, 404 unknown spec
#include <nlohmann/json.hpp>

#include "supervisor/control_api.hpp"
#include "supervisor/control_protocol.hpp"
#include "supervisor/waiter.hpp"

namespace vigil::supervisor {

void ControlApi::program_wait(const std::string& spec, const std::string& body, Reply reply) {
    using json = nlohmann::json;
    namespace field = control::field;
    std::string goal_text = control::to_string(control::Goal::running);
    double timeout_s = 60.0;
    try {
        const json opts = body.empty() ? json::object() : json::parse(body);
        if (!opts.is_object()) return reply(error_response(400, "body must be a JSON object"));
        goal_text = opts.value(field::goal, goal_text);
        timeout_s = opts.value(field::timeout, timeout_s);
    } catch (const std::exception& e) {
        return reply(error_response(400, std::string("bad request: ") + e.what()));
    }
    const auto asked = control::parse_goal(goal_text);
    if (!asked) return reply(error_response(400, "goal must be running, healthy or stopped, got '" + goal_text + "'"));
    const Waiter::Goal goal = *asked == control::Goal::healthy   ? Waiter::Goal::healthy
                              : *asked == control::Goal::stopped ? Waiter::Goal::stopped
                                                                 : Waiter::Goal::running;
    if (!(timeout_s > 0 && timeout_s <= 86400)) return reply(error_response(400, "timeout must be within (0, 86400] s"));
    std::string error;
    auto runners = sup_.resolve(spec, error);
    if (runners.empty()) return reply(error_response(404, error));

    auto waiter = std::make_shared<Waiter>(
        io_, sup_, [reply = std::move(reply), goal_text, timeout_s](bool ok, bool timed_out, json results) {
            json j{{field::ok, ok}, {field::goal, goal_text}, {field::results, std::move(results)}};
            char seconds[32];
            std::snprintf(seconds, sizeof seconds, "%g", timeout_s);
            if (timed_out) j[field::error] = "timed out after " + std::string(seconds) + " s waiting for " + goal_text;
            ApiResponse r;
            r.status = ok ? 200 : timed_out ? 408 : 409;
            r.body = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
            reply(std::move(r));
        });
    for (ProcessRunner* r : runners) waiter->add(r->name(), goal);
    waiter->start(std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)));
}

}  // namespace vigil::supervisor
