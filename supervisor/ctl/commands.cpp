#include "supervisor/ctl/commands.hpp"

#include "supervisor/ctl/backup.hpp"
#include "supervisor/ctl/reexec.hpp"
#include "supervisor/ctl/rolling.hpp"
#include "supervisor/ctl/unfence.hpp"
#include "supervisor/ctl/wait.hpp"

#include <thread>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>

#include "proxy/admin_protocol.hpp"
#include "supervisor/control_protocol.hpp"

namespace vigil::ctl {
namespace {

namespace field = control::field;
namespace admin_field = proxy::admin::field;  // `upstreams` shows the proxy's own JSON
// What `status` shows: a fifth of the bytes of every field.
const std::string kStatusFields = std::string(field::name) + "," + field::group + "," + field::program + "," +
                                  field::state + "," + field::description + "," + field::health + "," + field::pid;

using json = nlohmann::json;

struct Args {
    std::vector<std::string> words;  // positional
    std::set<std::string> flags;     // --json, -f, --no-wait, --healthy, --rolling
    std::map<std::string, std::string> values;  // --timeout N
};

Args parse(const std::vector<std::string>& in) {
    Args a;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const std::string& w = in[i];
        if (w == "--timeout" && i + 1 < in.size()) a.values["timeout"] = in[++i];
        else if (w.rfind("--timeout=", 0) == 0) a.values["timeout"] = w.substr(10);
        else if (w == "--drain-timeout" && i + 1 < in.size()) a.values["drain-timeout"] = in[++i];
        else if (w.rfind("--drain-timeout=", 0) == 0) a.values["drain-timeout"] = w.substr(16);
        else if (w.size() > 1 && w[0] == '-' && w != "-") a.flags.insert(w);
        else a.words.push_back(w);
    }
    return a;
}

class Runner {
public:
    Runner(const Client& c, std::ostream& out, std::ostream& err) : c_(c), out_(out), err_(err) {}

    // nullopt (and an error line) when vigild is unreachable.
    std::optional<HttpReply> call(const std::string& method, const std::string& target, const std::string& body = "",
                                  std::chrono::seconds timeout = std::chrono::seconds(120)) {
        std::string error;
        auto r = c_.call(method, target, body, error, timeout);
        if (!r) err_ << "vigilctl: " << error << "\n";
        return r;
    }

    static std::string error_of(const HttpReply& r) {
        const auto j = json::parse(r.body, nullptr, false);
        if (j.is_object() && j.contains(field::error) && j[field::error].is_string())
            return j[field::error].get<std::string>();
        return "HTTP " + std::to_string(r.status);
    }

    int status(const Args& a);
    int action(const std::string& verb, const Args& a);
    int signal(const Args& a);
    int pid(const Args& a);
    int tail(const Args& a);
    int reread(const Args& a);
    int update(const std::string& verb, const Args& a);
    int wait(const Args& a);
    int health(const Args& a);
    int upstreams(const Args& a);
    int shutdown();
    int reopen();
    int version(const Args& a);
    int promote(const std::string& verb, const Args& a);

private:
    std::optional<json> programs(int& code, bool all_fields = false) {
        auto r = call("GET", all_fields ? control::route::path(control::route::programs)
                                        : control::route::path(control::route::programs) + "?" +
                                              std::string(control::query::fields) + "=" + kStatusFields);
        if (!r) {
            code = kUnreachable;
            return std::nullopt;
        }
        if (r->status != 200) {
            err_ << "vigilctl: ERROR (" << error_of(*r) << ")\n";
            code = kFailed;
            return std::nullopt;
        }
        return json::parse(r->body);
    }

    const Client& c_;
    std::ostream& out_;
    std::ostream& err_;
};

bool matches(const json& p, const std::string& spec) {
    const auto name = p[field::name].get<std::string>(), group = p[field::group].get<std::string>(),
               program = p[field::program].get<std::string>();
    if (spec == "all" || spec == name || spec == program || spec == group) return true;
    const auto colon = spec.find(':');
    return colon != std::string::npos && spec.substr(0, colon) == group &&
           (spec.substr(colon + 1) == "*" || spec.substr(colon + 1) == name);
}

std::string status_line(const json& p) {
    char buf[512];
    std::string health = p.value(field::health, "");
    std::snprintf(buf, sizeof buf, "%-32s %-10s %s%s%s", p[field::name].get<std::string>().c_str(),
                  p[field::state].get<std::string>().c_str(), p[field::description].get<std::string>().c_str(),
                  health.empty() ? "" : "  ", health.c_str());
    return buf;
}

int Runner::status(const Args& a) {
    int code = kOk;
    auto all = programs(code, a.flags.count("--json") > 0);
    if (!all) return code;
    json shown = json::array();
    for (const auto& spec : a.words) {
        if (std::none_of(all->begin(), all->end(), [&](const json& p) { return matches(p, spec); })) {
            err_ << spec << ": ERROR (no such process)\n";
            return kUsage;
        }
    }
    for (const auto& p : *all)
        if (a.words.empty() || std::any_of(a.words.begin(), a.words.end(), [&](const auto& s) { return matches(p, s); }))
            shown.push_back(p);
    if (a.flags.count("--json")) out_ << shown.dump(2) << "\n";
    else
        for (const auto& p : shown) out_ << status_line(p) << "\n";
    const bool all_running =
        std::all_of(shown.begin(), shown.end(), [](const json& p) { return p[field::state] == "RUNNING"; });
    return all_running ? kOk : kNotRunning;
}

int Runner::action(const std::string& verb, const Args& a) {
    if (a.words.empty()) {
        err_ << "vigilctl: " << verb << " needs a name, GROUP:* or all\n";
        return kUsage;
    }
    json body{{field::wait, !a.flags.count("--no-wait")}};
    long timeout = 60;
    if (a.values.count("timeout")) {
        try {
            timeout = std::stol(a.values.at("timeout"));
        } catch (const std::exception&) {
            err_ << "vigilctl: --timeout takes seconds\n";
            return kUsage;
        }
        body[field::timeout] = timeout;
    }
    int code = kOk;
    for (const auto& spec : a.words) {
        auto r = call("POST", control::route::program(path_segment(spec), verb), body.dump(),
                      std::chrono::seconds(timeout + 30));
        if (!r) return kUnreachable;
        if (r->status == 404) {
            err_ << spec << ": ERROR (no such process)\n";
            code = std::max(code, static_cast<int>(kUsage));
            continue;
        }
        const auto j = json::parse(r->body, nullptr, false);
        if (!j.is_object() || !j.contains(field::results)) {
            err_ << spec << ": ERROR (" << error_of(*r) << ")\n";
            code = std::max(code, static_cast<int>(kFailed));
            continue;
        }
        for (const auto& res : j[field::results]) {
            const bool ok = res.value(field::ok, false);
            if (ok)
                out_ << res[field::name].get<std::string>() << ": " << res[field::message].get<std::string>() << "\n";
            else {
                err_ << res[field::name].get<std::string>() << ": ERROR (" << res[field::message].get<std::string>()
                     << ")\n";
                code = std::max(code, static_cast<int>(kFailed));
            }
        }
    }
    return code;
}

int Runner::signal(const Args& a) {
    if (a.words.size() < 2) {
        err_ << "vigilctl: usage: signal SIG NAME...\n";
        return kUsage;
    }
    int code = kOk;
    for (std::size_t i = 1; i < a.words.size(); ++i) {
        auto r = call("POST", control::route::program(path_segment(a.words[i]), control::route::signal),
                      json{{field::signal, a.words[0]}}.dump());
        if (!r) return kUnreachable;
        const auto j = json::parse(r->body, nullptr, false);
        if (r->status == 404 || r->status == 400) {
            err_ << a.words[i] << ": ERROR (" << error_of(*r) << ")\n";
            code = kUsage;
            continue;
        }
        for (const auto& res : j[field::results]) {
            if (res.value(field::ok, false)) out_ << res[field::name].get<std::string>() << ": signalled\n";
            else {
                err_ << res[field::name].get<std::string>() << ": ERROR (" << res[field::message].get<std::string>()
                     << ")\n";
                code = std::max(code, static_cast<int>(kFailed));
            }
        }
    }
    return code;
}

int Runner::pid(const Args& a) {
    if (a.words.empty()) {
        auto r = call("GET", control::route::path(control::route::version));
        if (!r) return kUnreachable;
        out_ << json::parse(r->body)[field::pid].get<int>() << "\n";
        return kOk;
    }
    int code = kOk;
    auto all = programs(code);
    if (!all) return code;
    json shown = json::array();
    for (const auto& spec : a.words) {
        bool any = false;
        for (const auto& p : *all)
            if (matches(p, spec)) {
                shown.push_back({{field::name, p[field::name]}, {field::pid, p[field::pid]}});
                any = true;
            }
        if (!any) {
            err_ << spec << ": ERROR (no such process)\n";
            return kUsage;
        }
    }
    if (a.flags.count("--json")) out_ << shown.dump(2) << "\n";
    else
        for (const auto& p : shown) out_ << p[field::pid].get<int>() << "\n";
    const bool all_up =
        std::all_of(shown.begin(), shown.end(), [](const json& p) { return p[field::pid].get<int>() > 0; });
    return all_up ? kOk : kNotRunning;
}

int Runner::tail(const Args& a) {
    if (a.words.empty() || a.words.size() > 2) {
        err_ << "vigilctl: usage: tail [-f] NAME [stdout|stderr]\n";
        return kUsage;
    }
    const std::string stream = a.words.size() == 2 ? a.words[1] : "stdout";
    const std::string target = control::route::program(path_segment(a.words[0]), control::route::log) + "?" +
                               std::string(control::query::stream) + "=" + stream + "&" +
                               std::string(control::query::offset) + "=-1600";
    if (!a.flags.count("-f")) {
        auto r = call("GET", target);
        if (!r) return kUnreachable;
        if (r->status != 200) {
            err_ << a.words[0] << ": ERROR (" << error_of(*r) << ")\n";
            return r->status == 404 ? kUsage : kFailed;
        }
        out_ << r->body << std::flush;
        return kOk;
    }
    std::string error;
    const int status = c_.stream(
        target + "&" + std::string(control::query::follow) + "=1",
        [&](const std::string& data) {
            out_ << data << std::flush;
            return static_cast<bool>(out_);  // stop when the pipe reader went away
        },
        error);
    if (status == 0) {
        err_ << "vigilctl: " << error << "\n";
        return kUnreachable;
    }
    if (status != 200) {
        err_ << a.words[0] << ": ERROR (HTTP " << status << ")\n";
        return status == 404 ? kUsage : kFailed;
    }
    return kOk;
}

void print_errors(std::ostream& err, const json& j) {
    err << "ERROR: " << j.value(field::error, "configuration refused") << "\n";
    if (j.contains(field::errors))
        for (const auto& e : j[field::errors]) err << "  " << e.get<std::string>() << "\n";
}

int Runner::reread(const Args& a) {
    auto r = call("POST", control::route::path(control::route::config, control::route::reread));
    if (!r) return kUnreachable;
    const auto j = json::parse(r->body, nullptr, false);
    if (r->status != 200) {
        print_errors(err_, j);
        return kFailed;
    }
    if (a.flags.count("--json")) {
        out_ << j.dump(2) << "\n";
        return kOk;
    }
    if (j[field::added].empty() && j[field::changed].empty() && j[field::removed].empty())
        out_ << "No config updates to processes\n";
    for (const auto& n : j[field::added]) out_ << n.get<std::string>() << ": available\n";
    for (const auto& n : j[field::changed]) out_ << n.get<std::string>() << ": changed\n";
    for (const auto& n : j[field::removed]) out_ << n.get<std::string>() << ": disappeared\n";
    return kOk;
}

int Runner::update(const std::string& verb, const Args& a) {
    std::optional<HttpReply> r;
    if (verb == "reload") r = call("POST", control::route::path(control::route::reload));
    else
        r = call("POST", control::route::path(control::route::config, control::route::update),
                 a.words.empty() ? "{}" : json{{field::names, a.words}}.dump());
    if (!r) return kUnreachable;
    const auto j = json::parse(r->body, nullptr, false);
    if (r->status == 404) {
        err_ << "ERROR (" << error_of(*r) << ")\n";
        return kUsage;
    }
    if (r->status != 200) {
        print_errors(err_, j);
        return kFailed;
    }
    if (a.flags.count("--json")) {
        out_ << j.dump(2) << "\n";
        return kOk;
    }
    for (const auto& n : j[field::added]) out_ << n.get<std::string>() << ": added\n";
    for (const auto& n : j[field::changed]) out_ << n.get<std::string>() << ": changed, restarted\n";
    for (const auto& n : j[field::removed]) out_ << n.get<std::string>() << ": removed\n";
    return kOk;
}

// Blocks until every named process is RUNNING (or healthy): vigild holds
// the request and answers when they are, so no change is missed between a
// look and a watch, and nothing polls.
int Runner::wait(const Args& a) {
    if (a.words.empty()) {
        err_ << "vigilctl: usage: wait NAME... [--healthy] [--timeout S]\n";
        return kUsage;
    }
    long timeout = 60;
    try {
        if (a.values.count("timeout")) timeout = std::stol(a.values.at("timeout"));
    } catch (const std::exception&) {
        timeout = 0;
    }
    if (timeout <= 0 || timeout > 86400) {
        err_ << "vigilctl: --timeout takes seconds (1..86400)\n";
        return kUsage;
    }
    const control::Goal goal = a.flags.count("--healthy") ? control::Goal::healthy : control::Goal::running;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    int code = kOk;
    for (const auto& spec : a.words) {
        // One deadline for all: each spec gets what is left of it.
        const auto left = std::chrono::ceil<std::chrono::seconds>(deadline - std::chrono::steady_clock::now()).count();
        const WaitResult w = wait_for(c_, spec, goal, std::max<long>(1, left));
        if (w.status == 0) {
            err_ << "vigilctl: " << w.error << "\n";
            return kUnreachable;
        }
        if (w.status == 404) {
            err_ << spec << ": ERROR (no such process)\n";
            return kUsage;
        }
        if (w.processes.empty()) {
            err_ << spec << ": ERROR (" << w.error << ")\n";
            return kFailed;
        }
        for (const auto& p : w.processes)
            if (!p.ok) {
                err_ << p.name << ": ERROR (" << p.message << ")\n";
                code = kFailed;
            }
    }
    return code;
}

int Runner::health(const Args& a) {
    int code = kOk;
    auto all = programs(code);
    if (!all) return code;
    std::vector<std::string> names;
    for (const auto& p : *all) {
        const bool wanted = a.words.empty() || std::any_of(a.words.begin(), a.words.end(),
                                                           [&](const auto& s) { return matches(p, s); });
        if (wanted) names.push_back(p[field::name].get<std::string>());
    }
    for (const auto& spec : a.words)
        if (std::none_of(all->begin(), all->end(), [&](const json& p) { return matches(p, spec); })) {
            err_ << spec << ": ERROR (no such process)\n";
            return kUsage;
        }
    json shown = json::array();
    bool all_healthy = true;
    for (const auto& n : names) {
        auto r = call("GET", control::route::program(path_segment(n), control::route::health));
        if (!r) return kUnreachable;
        if (r->status == 404) continue;  // no healthcheck
        const auto j = json::parse(r->body);
        all_healthy = all_healthy && j.value(field::status, "") == "healthy";
        shown.push_back(j);
    }
    if (a.flags.count("--json")) {
        out_ << shown.dump(2) << "\n";
    } else {
        for (const auto& j : shown) {
            char head[512];
            std::snprintf(head, sizeof head, "%-32s %-10s %s  (%llu ok, %llu failed)",
                          j[field::name].get<std::string>().c_str(),
                          j.value(field::status, "").empty() ? "-" : j[field::status].get<std::string>().c_str(),
                          j.value(field::check, "").c_str(), j.value(field::checks_passed, 0ULL),
                          j.value(field::checks_failed, 0ULL));
            out_ << head << "\n";
            if (j.contains("replication")) out_ << "    replication: " << j["replication"].get<std::string>() << "\n";
            // Every result vigild keeps (the last 10), oldest first, each
            // with its local time: when did it start failing?
            for (const auto& res : j[field::results]) {
                const double t = res.value(field::time, 0.0);
                const std::time_t secs = static_cast<std::time_t>(t);
                std::tm tm{};
                ::localtime_r(&secs, &tm);
                char when[32];
                std::snprintf(when, sizeof when, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                              static_cast<int>((t - static_cast<double>(secs)) * 1000) % 1000);
                char line[512];
                std::snprintf(line, sizeof line, "    %s  %s %8.1f ms  %s", when,
                              res[field::ok].get<bool>() ? "ok  " : "FAIL", res[field::latency_ms].get<double>(),
                              res.value(field::detail, "").c_str());
                out_ << line << "\n";
            }
        }
    }
    return all_healthy ? kOk : kNotRunning;
}

int Runner::upstreams(const Args& a) {
    auto r = call("GET", control::route::path(control::route::upstreams));
    if (!r) return kUnreachable;
    if (r->status != 200) {
        err_ << "vigilctl: ERROR (" << error_of(*r) << ")\n";
        return kFailed;
    }
    const auto j = json::parse(r->body);
    if (a.flags.count("--json")) {
        out_ << j.dump(2) << "\n";
        return kOk;
    }
    for (const auto& pool : j.value(admin_field::pools, json::array())) {
        out_ << pool.value(admin_field::name, "") << " (" << pool.value(admin_field::balance, "") << ", max_fails "
             << pool.value(admin_field::max_fails, 0) << ", fail_timeout "
             << pool.value(admin_field::fail_timeout_ms, 0) / 1000.0 << "s, max_ejection_percent "
             << pool.value(admin_field::max_ejection_percent, 50);
        if (const int n = pool.value(admin_field::eject_on_5xx, 0); n > 0) out_ << ", eject_on_5xx " << n;
        out_ << ")\n";
        for (const auto& srv : pool.value(admin_field::servers, json::array())) {
            char ejected[64] = "";
            if (srv.value(admin_field::ejected, false))
                std::snprintf(ejected, sizeof ejected, " EJECTED %.1fs left",
                              srv.value(admin_field::ejected_ms, 0LL) / 1000.0);
            char line[512];
            std::snprintf(line, sizeof line, "  %-24s %-21s %-9s%s active %-4d fails %d ejections %llu",
                          srv.value(admin_field::name, "").c_str(), srv.value(admin_field::address, "").c_str(),
                          srv.value(admin_field::state, "").c_str(), ejected, srv.value(admin_field::active, 0),
                          srv.value(admin_field::fails, 0), srv.value(admin_field::ejections_total, 0ULL));
            out_ << line << "\n";
        }
    }
    return kOk;
}

int Runner::shutdown() {
    auto r = call("POST", control::route::path(control::route::shutdown));
    if (!r) return kUnreachable;
    out_ << "Shut down\n";
    return r->status == 202 ? kOk : kFailed;
}

int Runner::reopen() {
    auto r = call("POST", control::route::path(control::route::reopen));
    if (!r) return kUnreachable;
    if (r->status != 200) {
        err_ << "vigilctl: ERROR (" << error_of(*r) << ")\n";
        return kFailed;
    }
    out_ << "Reopened " << json::parse(r->body).value(control::field::reopened, 0) << " log files\n";
    return kOk;
}

// switchover / failover NAME [--force]: begun by vigild, then followed
// until NAME is the primary with nothing under way (or --timeout, 60 s).
int Runner::promote(const std::string& verb, const Args& a) {
    if (a.words.size() != 1)
        return err_ << "vigilctl: " << verb << " takes one NAME, the replica to make primary\n", kUsage;
    const std::string& name = a.words[0];
    const auto t0 = std::chrono::steady_clock::now();
    auto r = call("POST", control::route::program(path_segment(name), verb),
                  json{{"force", a.flags.count("--force") > 0}}.dump());
    if (!r) return kUnreachable;
    if (r->status != 202) {
        err_ << "vigilctl: ERROR (" << error_of(*r) << ")\n";
        return r->status == 404 ? kUsage : kFailed;
    }
    const double timeout = a.values.count("timeout") ? std::atof(a.values.at("timeout").c_str()) : 60.0;
    const auto until = t0 + std::chrono::milliseconds(static_cast<long>(timeout * 1000));
    while (std::chrono::steady_clock::now() < until) {
        auto s = call("GET", control::route::program(path_segment(name)));
        if (!s) return kUnreachable;
        const auto j = json::parse(s->body, nullptr, false);
        if (j.is_object() && j.contains("replication")) {
            const auto& rj = j["replication"];
            if (rj.value("role", "") == "primary" && rj.value("operation", "").empty()) {
                out_ << name << ": primary (" << verb << " took " << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0).count() << " ms)\n";
                return kOk;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a short CLI poll, bounded by --timeout
    }
    err_ << "vigilctl: " << name << " is not the primary after " << timeout << " s: see vigild's log\n";
    return kFailed;
}

int Runner::version(const Args& a) {
    auto r = call("GET", control::route::path(control::route::version));
    if (!r) return kUnreachable;
    if (a.flags.count("--json")) out_ << r->body;
    else out_ << json::parse(r->body)[field::version].get<std::string>() << "\n";
    return kOk;
}

}  // namespace

int run_command(const Client& client, const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    if (argv.empty()) {
        err << usage();
        return kUsage;
    }
    const std::string& verb = argv[0];
    if (verb == "backup" || verb == "restore")
        return backup_restore(client, verb, std::vector<std::string>(argv.begin() + 1, argv.end()), out, err);
    if (verb == "unfence") return unfence(client, std::vector<std::string>(argv.begin() + 1, argv.end()), out, err);
    const Args a = parse(std::vector<std::string>(argv.begin() + 1, argv.end()));
    Runner r(client, out, err);
    try {
        if (verb == "status") return r.status(a);
        if (verb == "restart" && a.flags.count("--rolling")) {
            auto opt = [&](const char* k) {
                return a.values.count(k) ? std::optional<std::string>(a.values.at(k)) : std::nullopt;
            };
            return rolling_restart(client, a.words, opt("timeout"), opt("drain-timeout"), a.flags.count("--json") > 0,
                                   out, err);
        }
        if (verb == "start" || verb == "stop" || verb == "restart") return r.action(verb, a);
        if (verb == "signal") return r.signal(a);
        if (verb == "pid") return r.pid(a);
        if (verb == "tail") return r.tail(a);
        if (verb == "reread") return r.reread(a);
        if (verb == "update" || verb == "reload") return r.update(verb, a);
        if (verb == "wait") return r.wait(a);
        if (verb == "health") return r.health(a);
        if (verb == "upstreams") return r.upstreams(a);
        if (verb == "shutdown") return r.shutdown();
        if (verb == "reopen") return r.reopen();
        if (verb == "switchover" || verb == "failover") return r.promote(verb, a);
        if (verb == "reexec")
            return reexec(client, a.values.count("timeout") ? std::optional<std::string>(a.values.at("timeout"))
                                                            : std::nullopt,
                          a.flags.count("--json") > 0, out, err);
        if (verb == "version") return r.version(a);
        if (verb == "help") {
            out << usage();
            return kOk;
        }
    } catch (const std::exception& e) {
        err << "vigilctl: unexpected reply from vigild: " << e.what() << "\n";
        return kFailed;
    }
    if (verb == "export") {  // vigilctl_main runs it before connecting; the shell has no config file
        err << "vigilctl: export runs outside the shell: vigilctl -c FILE export kubernetes\n";
        return kUsage;
    }
    err << "vigilctl: unknown verb '" << verb << "'\n" << usage();
    return kUsage;
}

}  // namespace vigil::ctl
