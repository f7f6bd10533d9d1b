#include "supervisor/ctl/unfence.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "supervisor/control_protocol.hpp"
#include "supervisor/ctl/commands.hpp"
#include "supervisor/ctl/wait.hpp"

namespace vigil::ctl {

int unfence(const Client& client, const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    using json = nlohmann::json;
    std::vector<std::string> words;
    long timeout = 120;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string value;
        if (args[i] == "--timeout" && i + 1 < args.size()) value = args[++i];
        else if (args[i].rfind("--timeout=", 0) == 0) value = args[i].substr(10);
        else if (args[i].size() > 1 && args[i][0] == '-') {
            err << "vigilctl: unfence: unknown option " << args[i] << "\n";
            return kUsage;
        } else {
            words.push_back(args[i]);
            continue;
        }
        char* end = nullptr;
        timeout = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || timeout <= 0 || timeout > 86400) {
            err << "vigilctl: --timeout takes seconds (1..86400)\n";
            return kUsage;
        }
    }
    if (words.size() != 1) {
        err << "vigilctl: usage: unfence NAME [--timeout S] (NAME: the fenced member to make primary again)\n";
        return kUsage;
    }
    const std::string& name = words[0];
    const auto t0 = std::chrono::steady_clock::now();
    std::string error;
    auto r = client.call("POST", control::route::program(path_segment(name), control::route::unfence), "{}", error);
    if (!r) {
        err << "vigilctl: " << error << "\n";
        return kUnreachable;
    }
    if (r->status != 202) {
        const auto j = json::parse(r->body, nullptr, false);
        const auto& field = control::field::error;
        const std::string why = j.is_object() && j.contains(field) && j[field].is_string()
                                    ? j[field].get<std::string>()
                                    : "HTTP " + std::to_string(r->status);
        err << name << ": ERROR (" << why << ")\n";
        return r->status == 404 ? kUsage : kFailed;
    }
    out << name << ": unfenced, starting it as the primary\n" << std::flush;
    const WaitResult w = wait_for(client, name, control::Goal::healthy, timeout);
    if (w.status == 0) {
        err << "vigilctl: " << w.error << "\n";
        return kUnreachable;
    }
    if (!w.ok()) {
        std::string why = w.error;
        for (const auto& p : w.processes)
            if (!p.ok) why = p.message;
        err << name << ": ERROR (it is the primary again but did not come up: " << why << "; see vigild's log)\n";
        return kFailed;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    out << name << ": primary, RUNNING (unfence took " << ms.count() << " ms)\n";
    return kOk;
}

}  // namespace vigil::ctl
