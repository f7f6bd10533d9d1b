// supervisor.start*/stop*/signal*: the operator's requests go to the
// Supervisor as vigil's own API sends them; waiting (wait = true) is a
// Waiter on the process, as for `vigilctl start`.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "config/command_line.hpp"
#include "config/units.hpp"
#include "supervisor/waiter.hpp"
#include "supervisor/xmlrpc/interface.hpp"

namespace vigil::supervisor::xmlrpc {
namespace {

bool running_state(core::State s) {  // supervisord's RUNNING_STATES
    return s == core::State::running || s == core::State::backoff || s == core::State::starting;
}
bool signallable_state(core::State s) {  // SIGNALLABLE_STATES
    return s == core::State::running || s == core::State::starting || s == core::State::stopping;
}

// supervisord refuses to start a command it cannot find or execute
// (NO_FILE, NOT_EXECUTABLE) before trying; vigil's spawn would fail the
// same way a moment later, but only as a SPAWN_ERROR.
std::optional<Result> check_command(const config::Program& p) {
    const auto split = config::split_command(p.command);
    if (split.argv.empty()) return std::nullopt;
    const std::string& exe = split.argv.front();
    auto check = [](const std::string& path) -> std::optional<Result> {
        struct stat st {};
        if (::stat(path.c_str(), &st) < 0) return Result::fault(NO_FILE, "no such file: " + path);
        if (S_ISDIR(st.st_mode) || ::access(path.c_str(), X_OK) < 0)
            return Result::fault(NOT_EXECUTABLE, "command at " + path + " is not executable");
        return std::nullopt;
    };
    if (exe.find('/') != std::string::npos) {
        if (exe.front() != '/' && !p.directory.empty()) return check(p.directory + "/" + exe);
        return check(exe);
    }
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
    for (const auto& [k, v] : p.environment)
        if (k == "PATH") path = v;
    for (std::size_t i = 0; i <= path.size();) {
        const std::size_t colon = std::min(path.find(':', i), path.size());
        const std::string dir = path.substr(i, colon - i);
        if (!dir.empty() && ::access((dir + "/" + exe).c_str(), X_OK) == 0) return std::nullopt;
        i = colon + 1;
    }
    return Result::fault(NO_FILE, "can't find command '" + exe + "'");
}

}  // namespace

ProcessRunner* Interface::single(const std::string& spec, const std::function<bool(const ProcessRunner&)>& pred,
                                 const Op& op, Done& done) {
    std::string group;
    ProcessRunner* p = nullptr;
    Result fault;
    if (!lookup(spec, group, p, fault)) return done(fault), nullptr;
    if (!p) for_each(group_processes(group), pred, op, std::move(done));
    return p;
}

void Interface::wait_for(const std::string& name, bool up, std::function<void()> then) {
    auto waiter = std::make_shared<Waiter>(io_, sup_, [then = std::move(then)](bool, bool, nlohmann::json) { then(); });
    waiter->add(name, up ? Waiter::Goal::up : Waiter::Goal::down);
    waiter->start(kWaitLimit);
}

void Interface::start_process(const std::string& spec, bool wait, Done done) {
    std::string group;
    ProcessRunner* p = nullptr;
    Result fault;
    if (!lookup(spec, group, p, fault)) return done(fault);
    if (!p) {
        return for_each(group_processes(group), [](const ProcessRunner& r) { return !running_state(r.state()); },
                        [this, wait](const std::string& s, Done d) { start_process(s, wait, std::move(d)); },
                        std::move(done));
    }
    if (auto bad = check_command(p->program())) return done(*bad);
    if (running_state(p->state())) return done(Result::fault(ALREADY_STARTED, spec));
    const std::string name = p->name();
    auto verdict = [this, name, spec]() -> Result {
        ProcessRunner* r = sup_.find(name);
        if (!r) return Result::fault(FAILED, spec + " was removed while starting");
        switch (r->state()) {
            case core::State::running: return Result::ok(Value::boolean(true));
            case core::State::backoff:
            case core::State::fatal: return Result::fault(SPAWN_ERROR, spec);
            case core::State::starting: return Result::fault(FAILED, spec + " still starting after " +
                                                                         std::to_string(kWaitLimit.count()) + "h");
            default: return Result::fault(ABNORMAL_TERMINATION, spec);
        }
    };
    if (!wait) {
        sup_.request_start(*p);
        const bool failed = (p->state() == core::State::backoff || p->state() == core::State::fatal) &&
                            !p->spawn_error().empty();
        return done(failed ? Result::fault(SPAWN_ERROR, spec) : Result::ok(Value::boolean(true)));
    }
    // The waiter subscribes before the request, which may settle at once.
    wait_for(name, true, [verdict, done] { done(verdict()); });
    sup_.request_start(*p);
}

void Interface::stop_process(const std::string& spec, bool wait, Done done) {
    ProcessRunner* p = single(spec, [](const ProcessRunner& r) { return running_state(r.state()); },
                              [this, wait](const std::string& s, Done d) { stop_process(s, wait, std::move(d)); }, done);
    if (!p) return;
    if (!running_state(p->state())) return done(Result::fault(NOT_RUNNING, spec));
    if (!wait) {
        sup_.request_stop(*p);
        return done(Result::ok(Value::boolean(true)));
    }
    wait_for(p->name(), false, [done] { done(Result::ok(Value::boolean(true))); });
    sup_.request_stop(*p);
}

void Interface::signal_process(const std::string& spec, const Value& signal, Done done) {
    ProcessRunner* p = single(spec, [](const ProcessRunner& r) { return signallable_state(r.state()); },
                              [this, signal](const std::string& s, Done d) { signal_process(s, signal, std::move(d)); }, done);
    if (!p) return;
    std::optional<int> sig;
    if (signal.type == Value::Type::integer) sig = static_cast<int>(signal.i);
    else if (signal.type == Value::Type::string) sig = config::parse_signal(signal.s);
    if (!sig || *sig <= 0 || *sig >= NSIG)
        return done(Result::fault(BAD_SIGNAL, signal.type == Value::Type::string ? signal.s : type_name(signal.type)));
    if (!signallable_state(p->state()) || p->pid() <= 0) return done(Result::fault(NOT_RUNNING, spec));
    if (::kill(p->pid(), *sig) < 0) return done(Result::fault(FAILED, std::strerror(errno)));
    done(Result::ok(Value::boolean(true)));
}

void Interface::add_process_methods() {
    auto all_with = [this](std::function<bool(const ProcessRunner&)> pred, Op op, Done done) {
        for_each(all_processes(), pred, op, std::move(done));
    };
    add("supervisor.startProcess", {{"boolean", "string", "boolean"}},
        "Start a process (name, group:name or group:*); wait: until it is RUNNING", [this](const Args& a, Done done) {
            a.at_most(2);
            start_process(a.string(0), a.boolean(1, true), std::move(done));
        });
    add("supervisor.stopProcess", {{"boolean", "string", "boolean"}},
        "Stop a process (name, group:name or group:*); wait: until it is down", [this](const Args& a, Done done) {
            a.at_most(2);
            stop_process(a.string(0), a.boolean(1, true), std::move(done));
        });
    add("supervisor.startProcessGroup", {{"array", "string", "boolean"}}, "Start all processes in the group",
        [this](const Args& a, Done done) {
            a.at_most(2);
            const std::string g = a.string(0);
            const bool wait = a.boolean(1, true);
            if (group_processes(g).empty()) return done(Result::fault(BAD_NAME, g));
            start_process(g + ":*", wait, std::move(done));
        });
    add("supervisor.stopProcessGroup", {{"array", "string", "boolean"}}, "Stop all processes in the group",
        [this](const Args& a, Done done) {
            a.at_most(2);
            const std::string g = a.string(0);
            const bool wait = a.boolean(1, true);
            if (group_processes(g).empty()) return done(Result::fault(BAD_NAME, g));
            stop_process(g + ":*", wait, std::move(done));
        });
    add("supervisor.startAllProcesses", {{"array", "boolean"}}, "Start all processes listed in the configuration",
        [this, all_with](const Args& a, Done done) {
            a.at_most(1);
            const bool wait = a.boolean(0, true);
            all_with([](const ProcessRunner& r) { return !running_state(r.state()); },
                     [this, wait](const std::string& s, Done d) { start_process(s, wait, std::move(d)); }, std::move(done));
        });
    add("supervisor.stopAllProcesses", {{"array", "boolean"}}, "Stop all processes in the process list",
        [this, all_with](const Args& a, Done done) {
            a.at_most(1);
            const bool wait = a.boolean(0, true);
            all_with([](const ProcessRunner& r) { return running_state(r.state()); },
                     [this, wait](const std::string& s, Done d) { stop_process(s, wait, std::move(d)); }, std::move(done));
        });
    add("supervisor.signalProcess", {{"boolean", "string", "string"}},
        "Send a signal (name 'HUP' or number '1') to the process", [this](const Args& a, Done done) {
            a.at_most(2);
            signal_process(a.string(0), a.any(1), std::move(done));
        });
    add("supervisor.signalProcessGroup", {{"array", "string", "string"}},
        "Send a signal to all processes in the group", [this](const Args& a, Done done) {
            a.at_most(2);
            const std::string g = a.string(0);
            const Value sig = a.any(1);
            if (group_processes(g).empty()) return done(Result::fault(BAD_NAME, g));
            signal_process(g + ":*", sig, std::move(done));
        });
    add("supervisor.signalAllProcesses", {{"array", "string"}}, "Send a signal to all processes in the process list",
        [this, all_with](const Args& a, Done done) {
            a.at_most(1);
            const Value sig = a.any(0);
            all_with([](const ProcessRunner& r) { return signallable_state(r.state()); },
                     [this, sig](const std::string& s, Done d) { signal_process(s, sig, std::move(d)); }, std::move(done));
        });
}

}  // namespace vigil::supervisor::xmlrpc
