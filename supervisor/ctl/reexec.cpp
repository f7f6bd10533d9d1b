#include "supervisor/ctl/reexec.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "supervisor/control_protocol.hpp"
#include "supervisor/ctl/commands.hpp"

namespace vigil::ctl {

using json = nlohmann::json;

int reexec(const Client& client, const std::optional<std::string>& timeout, bool as_json, std::ostream& out,
           std::ostream& err) {
    long secs = 30;
    if (timeout) {
        try {
            std::size_t used = 0;
            secs = std::stol(*timeout, &used);
            if (used != timeout->size() || secs <= 0) throw std::invalid_argument("");
        } catch (const std::exception&) {
            err << "vigilctl: --timeout wants a whole number of seconds, not '" << *timeout << "'\n";
            return kUsage;
        }
    }
    std::string error;
    auto r = client.call("POST", control::route::path(control::route::reexec), "", error);
    if (!r) {
        err << "vigilctl: " << error << "\n";
        return kUnreachable;
    }
    const json posted = json::parse(r->body, nullptr, false);
    if (r->status != 202 || !posted.is_object()) {
        const std::string why = posted.is_object() && posted.contains("error") ? posted["error"].get<std::string>()
                                                                             : "HTTP " + std::to_string(r->status);
        err << "vigilctl: " << why << "\n";
        return kFailed;
    }
    const auto before = posted.value(control::field::reexecs, 0ULL);
    const auto failures = posted.value(control::field::reexec_failures, 0ULL);
    // The control socket stays open through the exec: each of these calls
    // waits in its backlog until an image answers, the new one (reexecs
    // went up) or the old one going on after a failed exec.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    while (std::chrono::steady_clock::now() < deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now());
        auto v = client.call("GET", control::route::path(control::route::version), "", error, std::max(left, std::chrono::seconds(1)));
        if (!v) break;
        const json j = json::parse(v->body, nullptr, false);
        if (!j.is_object()) break;
        if (j.value(control::field::reexecs, 0ULL) > before) {
            if (as_json) out << v->body;
            else out << "vigild re-executed in place: pid " << j.value("pid", 0) << ", version "
                     << j.value("version", "") << "; every program kept running\n";
            return kOk;
        }
        if (j.value(control::field::reexec_failures, 0ULL) > failures) {
            err << "vigilctl: vigild could not re-execute and goes on as it was: " << j.value(control::field::reexec_error, "")
                << "\n";
            return kFailed;
        }
    }
    err << "vigilctl: no answer from a re-executed vigild" << (error.empty() ? "" : ": " + error) << "\n";
    return kUnreachable;
}

}  // namespace vigil::ctl
