#include "supervisor/ctl/rolling.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "supervisor/control_protocol.hpp"
#include "supervisor/ctl/commands.hpp"

namespace vigil::ctl {
namespace {

using json = nlohmann::json;
namespace field = control::field;
using control::RollStep;

bool seconds(const std::optional<std::string>& text, const char* key, json& body) {
    if (!text) return true;
    try {
        std::size_t used = 0;
        const double s = std::stod(*text, &used);
        if (used != text->size() || !(s >= 0 && s <= 86400)) return false;
        body[key] = s;
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

}  // namespace

int rolling_restart(const Client& client, const std::vector<std::string>& names,
                    const std::optional<std::string>& timeout, const std::optional<std::string>& drain_timeout,
                    bool as_json, std::ostream& out, std::ostream& err) {
    if (names.size() != 1) {
        err << "vigilctl: usage: restart --rolling GROUP [--timeout S] [--drain-timeout S] [--json]\n";
        return kUsage;
    }
    json body = json::object();
    if (!seconds(timeout, field::timeout, body) || (timeout && body[field::timeout].get<double>() <= 0)) {
        err << "vigilctl: --timeout takes seconds (more than 0)\n";
        return kUsage;
    }
    if (!seconds(drain_timeout, field::drain_timeout, body)) {
        err << "vigilctl: --drain-timeout takes seconds\n";
        return kUsage;
    }
    const std::string& spec = names[0];
    std::string raw, partial, error;
    std::optional<json> done;
    // Lines are printed as vigild sends them. Non-200 replies are one JSON
    // error object, read whole and reported below.
    const int status = client.stream(
        control::route::program(path_segment(spec), control::route::rolling_restart),
        [&](const std::string& data) {
            raw += data;
            partial += data;
            for (std::size_t nl; (nl = partial.find('\n')) != std::string::npos; partial.erase(0, nl + 1)) {
                const auto ev = json::parse(partial.substr(0, nl), nullptr, false);
                if (!ev.is_object() || !ev.contains(field::step)) continue;
                const std::string step = ev.value(field::step, ""), name = ev.value(field::name, ""),
                                  message = ev.value(field::message, "");
                if (as_json) {
                    out << ev.dump() << "\n" << std::flush;
                    if (step == control::to_string(RollStep::done)) done = ev;
                    continue;
                }
                if (step == control::to_string(RollStep::start)) {
                    std::string list;
                    for (const auto& n : ev.value(field::names, json::array()))
                        list += (list.empty() ? "" : ", ") + n.get<std::string>();
                    out << "rolling restart of " << spec << ": " << list << "\n" << std::flush;
                } else if (step == control::to_string(RollStep::failed)) {
                    err << name << ": ERROR (" << message << ")\n" << std::flush;
                } else if (step == control::to_string(RollStep::done)) {
                    done = ev;
                } else {
                    char ms[32];
                    std::snprintf(ms, sizeof ms, "%ld ms", ev.value(field::ms, 0L));
                    out << name << ": " << step << " (" << message << ", " << ms << ")\n" << std::flush;
                }
            }
            return true;
        },
        error, std::nullopt, "POST", body.dump());
    if (status == 0) {
        err << "vigilctl: " << error << "\n";
        return kUnreachable;
    }
    if (status != 200) {
        const auto j = json::parse(raw, nullptr, false);
        const std::string why = j.is_object() && j.contains(field::error) && j[field::error].is_string()
                                    ? j[field::error].get<std::string>()
                                    : "HTTP " + std::to_string(status);
        err << spec << ": ERROR (" << why << ")\n";
        return status == 404 || status == 400 ? kUsage : kFailed;
    }
    if (!done) {
        err << spec << ": ERROR (vigild ended the rolling restart's stream before it finished)\n";
        return kFailed;
    }
    const bool ok = done->value(field::ok, false);
    if (!as_json) {
        char took[32];
        std::snprintf(took, sizeof took, "%.2fs", static_cast<double>(done->value(field::ms, 0L)) / 1000.0);
        if (ok)
            out << "rolling restart of " << spec << ": " << done->value(field::message, "") << " in " << took << "\n";
        else err << "rolling restart of " << spec << " stopped: " << done->value(field::message, "") << "\n";
    }
    return ok ? kOk : kFailed;
}

}  // namespace vigil::ctl
