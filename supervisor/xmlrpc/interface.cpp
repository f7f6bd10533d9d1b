#include "supervisor/xmlrpc/interface.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <set>

#include <spdlog/spdlog.h>

#include "supervisor/control_api.hpp"

namespace vigil::supervisor::xmlrpc {
namespace {

std::int64_t wall_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string namespec(const ProcessRunner& r) {
    const std::string& group = r.program().group;
    return group == r.name() ? r.name() : group + ":" + r.name();
}

// Python's str(timedelta) of whole seconds: "0:05:03", "2 days, 1:00:00".
std::string timedelta_text(std::int64_t s) {
    if (s < 0) s = 0;
    char buf[64];
    const std::int64_t days = s / 86400;
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s % 86400 / 3600),
                  static_cast<long long>(s % 3600 / 60), static_cast<long long>(s % 60));
    if (days == 0) return buf;
    return std::to_string(days) + (days == 1 ? " day, " : " days, ") + buf;
}

// Methods supervisord answers even while it shuts down (they skip its _update()).
const std::set<std::string> kAlwaysAnswered = {
    "supervisor.getAPIVersion", "supervisor.getVersion", "supervisor.getSupervisorVersion",
    "supervisor.getIdentification", "supervisor.getState", "supervisor.getPID", "supervisor.readLog",
    "system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"};

}  // namespace

const char* fault_name(int code) {
    switch (code) {
        case UNKNOWN_METHOD: return "UNKNOWN_METHOD";
        case INCORRECT_PARAMETERS: return "INCORRECT_PARAMETERS";
        case BAD_ARGUMENTS: return "BAD_ARGUMENTS";
        case SIGNATURE_UNSUPPORTED: return "SIGNATURE_UNSUPPORTED";
        case SHUTDOWN_STATE: return "SHUTDOWN_STATE";
        case BAD_NAME: return "BAD_NAME";
        case BAD_SIGNAL: return "BAD_SIGNAL";
        case NO_FILE: return "NO_FILE";
        case NOT_EXECUTABLE: return "NOT_EXECUTABLE";
        case FAILED: return "FAILED";
        case ABNORMAL_TERMINATION: return "ABNORMAL_TERMINATION";
        case SPAWN_ERROR: return "SPAWN_ERROR";
        case ALREADY_STARTED: return "ALREADY_STARTED";
        case NOT_RUNNING: return "NOT_RUNNING";
        case SUCCESS: return "SUCCESS";
        case ALREADY_ADDED: return "ALREADY_ADDED";
        case STILL_RUNNING: return "STILL_RUNNING";
        case CANT_REREAD: return "CANT_REREAD";
    }
    return "UNKNOWN";
}

int process_state_code(core::State s) {
    switch (s) {
        case core::State::stopped: return 0;
        case core::State::starting: return 10;
        case core::State::running: return 20;
        case core::State::backoff: return 30;
        case core::State::stopping: return 40;
        case core::State::exited: return 100;
        case core::State::fatal: return 200;
    }
    return 1000;
}

const char* process_state_name(core::State s) {
    switch (s) {
        case core::State::stopped: return "STOPPED";
        case core::State::starting: return "STARTING";
        case core::State::running: return "RUNNING";
        case core::State::backoff: return "BACKOFF";
        case core::State::stopping: return "STOPPING";
        case core::State::exited: return "EXITED";
        case core::State::fatal: return "FATAL";
    }
    return "UNKNOWN";
}

Result Result::fault(int code, const std::string& extra) {
    Result r;
    r.is_fault = true;
    r.code = code;
    r.text = fault_name(code);
    if (!extra.empty()) r.text += ": " + extra;
    return r;
}

void Args::at_most(std::size_t n) const {
    if (v_.size() > n) throw BadParams{"takes at most " + std::to_string(n) + " arguments, got " +
                                       std::to_string(v_.size())};
}

const Value& Args::any(std::size_t i) const {
    if (i >= v_.size()) throw BadParams{"argument " + std::to_string(i + 1) + " is missing"};
    return v_[i];
}

std::string Args::string(std::size_t i) const {
    const Value& v = any(i);
    if (v.type != Value::Type::string)
        throw BadParams{"argument " + std::to_string(i + 1) + " must be a string, got " + type_name(v.type)};
    return v.s;
}

std::int64_t Args::integer(std::size_t i) const {
    const Value& v = any(i);
    if (v.type != Value::Type::integer)
        throw BadParams{"argument " + std::to_string(i + 1) + " must be an int, got " + type_name(v.type)};
    return v.i;
}

bool Args::boolean(std::size_t i, bool fallback) const {
    if (i >= v_.size()) return fallback;
    const Value& v = v_[i];
    // Python's client sends True as <boolean>; some clients send 0/1 ints.
    if (v.type == Value::Type::boolean) return v.b;
    if (v.type == Value::Type::integer) return v.i != 0;
    throw BadParams{"argument " + std::to_string(i + 1) + " must be a boolean, got " + type_name(v.type)};
}

Interface::Interface(boost::asio::io_context& io, Supervisor& sup, Reloader reload, std::function<void()> shutdown)
    : io_(io), sup_(sup), reload_(std::move(reload)), shutdown_(std::move(shutdown)) {
    observer_ = sup_.subscribe([this](const ProcessRunner& r, const core::Decision& d) {
        if (d.to == core::State::starting) started_[r.name()] = wall_now();
        else if (core::is_down(d.to) || d.to == core::State::backoff) stopped_[r.name()] = wall_now();
    });
    add_system_methods();
    add_info_methods();
    add_process_methods();
    add_admin_methods();
}

Interface::~Interface() { sup_.unsubscribe(observer_); }

void Interface::add(const std::string& name, std::vector<std::vector<std::string>> sig, std::string help, Method fn) {
    methods_[name] = Entry{std::move(fn), std::move(sig), std::move(help)};
}

void Interface::handle(std::string_view body, Reply reply, Access access) {
    std::string error;
    auto call = decode_call(body, error);
    if (!call) return reply(encode_fault(INCORRECT_PARAMETERS, std::string("INCORRECT_PARAMETERS: ") + error));
    if (std::string why = refused_method(access, call->method); !why.empty())
        return reply(encode_fault(FAILED, "FAILED: " + why));
    calling_ = access;
    dispatch(call->method, call->params, [reply = std::move(reply)](Result r) {
        reply(r.is_fault ? encode_fault(r.code, r.text) : encode_response(r.value));
    });
    calling_ = Access::full();
}

void Interface::dispatch(const std::string& method, const std::vector<Value>& params, Done done) {
    auto it = methods_.find(method);
    if (it == methods_.end()) return done(Result::fault(UNKNOWN_METHOD));
    if (sup_.shutting_down() && !kAlwaysAnswered.count(method)) return done(Result::fault(SHUTDOWN_STATE));
    // `done` is moved into the method, which may keep it (waiting calls):
    // an error thrown after that point cannot be answered from here, so
    // methods check every argument before they act or keep `done`.
    auto answered = std::make_shared<bool>(false);
    Done once = [done, answered](Result r) {
        if (*answered) return;
        *answered = true;
        done(std::move(r));
    };
    try {
        it->second.fn(Args(params), once);
    } catch (const BadParams& e) {
        once(Result::fault(INCORRECT_PARAMETERS, e.why));
    } catch (const std::exception& e) {
        spdlog::warn("xml-rpc {}: {}", method, e.what());
        once(Result::fault(FAILED, e.what()));
    }
}

// Calls run one after another, as supervisord runs them, so a stop then a
// start of the same process in one multicall happen in that order.
void Interface::multicall(const Value& calls, Done done) {
    struct Run {
        std::vector<Value> calls;
        std::size_t next = 0;
        Value results = Value::array();
        Done done;
    };
    auto run = std::make_shared<Run>();
    const Access access = calling_;
    run->calls = calls.items;
    run->done = std::move(done);
    auto step = std::make_shared<std::function<void()>>();
    *step = [this, run, access, weak_step = std::weak_ptr<std::function<void()>>(step)] {
        auto self_step = weak_step.lock();
        while (run->next < run->calls.size()) {
            const Value& c = run->calls[run->next++];
            auto fault_struct = [](const Result& r) {
                Value f = Value::structure();
                f.add("faultCode", Value::integer(r.code)).add("faultString", Value::string(r.text));
                return f;
            };
            const Value* name = c.type == Value::Type::structure ? c.member("methodName") : nullptr;
            const Value* params = c.type == Value::Type::structure ? c.member("params") : nullptr;
            if (!name || name->type != Value::Type::string || (params && params->type != Value::Type::array)) {
                run->results.push(fault_struct(Result::fault(INCORRECT_PARAMETERS, "each call is {methodName, params}")));
                continue;
            }
            if (name->s == "system.multicall") {
                run->results.push(fault_struct(Result::fault(INCORRECT_PARAMETERS, "Recursive system.multicall forbidden")));
                continue;
            }
            if (std::string why = refused_method(access, name->s); !why.empty()) {
                run->results.push(fault_struct(Result::fault(FAILED, why)));
                continue;
            }
            auto sync = std::make_shared<bool>(true);
            auto resumed = std::make_shared<bool>(false);
            static const std::vector<Value> kNone;
            calling_ = access;  // for this call's synchronous part, as handle() does
            dispatch(name->s, params ? params->items : kNone,
                     [run, fault_struct, sync, resumed, self_step](Result r) {
                         run->results.push(r.is_fault ? fault_struct(r) : Value::array().push(std::move(r.value)));
                         *resumed = true;
                         if (!*sync && self_step) (*self_step)();  // a waiting call finished: go on
                     });
            calling_ = Access::full();
            *sync = false;
            if (!*resumed) return;  // the call waits; its answer resumes the loop
        }
        run->done(Result::ok(std::move(run->results)));
    };
    // The loop holds itself alive through the pending calls' callbacks.
    auto keep = step;
    (*keep)();
}

void Interface::add_system_methods() {
    add("system.listMethods", {{"array"}}, "Return an array listing the available method names", [this](const Args& a, Done done) {
        a.at_most(0);
        Value out = Value::array();
        for (const auto& [name, e] : methods_) out.push(Value::string(name));
        done(Result::ok(std::move(out)));
    });
    add("system.methodHelp", {{"string", "string"}}, "Return a string showing the method's documentation",
        [this](const Args& a, Done done) {
            a.at_most(1);
            auto it = methods_.find(a.string(0));
            if (it == methods_.end()) return done(Result::fault(SIGNATURE_UNSUPPORTED));
            done(Result::ok(Value::string(it->second.help)));
        });
    add("system.methodSignature", {{"array", "string"}}, "Return an array describing the method signature",
        [this](const Args& a, Done done) {
            a.at_most(1);
            auto it = methods_.find(a.string(0));
            if (it == methods_.end()) return done(Result::fault(SIGNATURE_UNSUPPORTED));
            // supervisord answers one signature: [return type, param types...].
            Value sig = Value::array();
            for (const auto& t : it->second.signatures.front()) sig.push(Value::string(t));
            done(Result::ok(std::move(sig)));
        });
    add("system.multicall", {{"array", "array"}}, "Process an array of calls, and return an array of results",
        [this](const Args& a, Done done) {
            a.at_most(1);
            const Value& calls = a.any(0);
            if (calls.type != Value::Type::array) throw BadParams{"argument 1 must be an array of calls"};
            multicall(calls, std::move(done));
        });
}

bool Interface::lookup(const std::string& spec, std::string& group, ProcessRunner*& process, Result& fault) {
    const std::size_t colon = spec.find(':');
    std::string name;
    if (colon == std::string::npos) {
        group = name = spec;
    } else {
        group = spec.substr(0, colon);
        name = spec.substr(colon + 1);
        if (name == "*") name.clear();
    }
    process = nullptr;
    bool group_known = false;
    for (const auto& n : sup_.order()) {
        ProcessRunner* r = sup_.find(n);
        if (!r || r->program().group != group) continue;
        group_known = true;
        if (!name.empty() && r->name() == name) process = r;
    }
    // vigil's process names are unique, so a bare name finds a process in
    // any group (supervisord would want "group:name").
    if (colon == std::string::npos && !process) {
        if (ProcessRunner* r = sup_.find(spec)) {
            group = r->program().group;
            process = r;
            return true;
        }
    }
    if (!group_known || (!name.empty() && !process)) {
        fault = Result::fault(BAD_NAME, spec);
        return false;
    }
    return true;
}

std::vector<ProcessRunner*> Interface::group_processes(const std::string& group) {
    std::vector<ProcessRunner*> out;
    for (const auto& n : sup_.order())
        if (ProcessRunner* r = sup_.find(n); r && r->program().group == group) out.push_back(r);
    return out;
}

std::vector<ProcessRunner*> Interface::all_processes() {
    std::vector<ProcessRunner*> out;
    for (const auto& n : sup_.order())
        if (ProcessRunner* r = sup_.find(n)) out.push_back(r);
    return out;
}

std::int64_t Interface::last_start(const ProcessRunner& r) const {
    if (auto it = started_.find(r.name()); it != started_.end()) return it->second;
    return 0;
}

Value Interface::process_info(const ProcessRunner& r) const {
    const auto& m = r.machine();
    const std::int64_t now = wall_now();
    const std::int64_t start = last_start(r);
    const auto st = stopped_.find(r.name());
    const std::int64_t stop = st == stopped_.end() ? 0 : st->second;
    const core::State s = r.state();
    std::string spawnerr;
    if (s == core::State::backoff || s == core::State::fatal) {
        spawnerr = !r.spawn_error().empty() ? r.spawn_error() : "Exited too quickly (process log may have details)";
        // The line of output that explains the exit, unless the caller may
        // not read program output (a reader without log_group).
        if (r.spawn_error().empty() && !r.exit_reason().empty() && calling_.logs) spawnerr += ": " + r.exit_reason();
    }
    std::string desc;
    if (s == core::State::running) {
        desc = "pid " + std::to_string(r.pid()) + ", uptime " + timedelta_text(now - start);
    } else if (s == core::State::backoff || s == core::State::fatal) {
        desc = spawnerr;
    } else if (s == core::State::stopped || s == core::State::exited) {
        const std::string waiting = sup_.waiting_for(r.name());
        if (!waiting.empty()) {
            desc = waiting;
        } else if (start) {
            const std::time_t t = stop;
            std::tm tm{};
            ::localtime_r(&t, &tm);
            char buf[64];
            std::strftime(buf, sizeof buf, "%b %d %I:%M %p", &tm);
            desc = buf;
        } else {
            desc = "Not started";
        }
    }
    const auto exit = m.last_exit();
    const std::string out_log = r.program().stdout_log.path;
    const std::string err_log = r.program().redirect_stderr ? "" : r.program().stderr_log.path;
    Value v = Value::structure();
    v.add("name", Value::string(r.name()))
        .add("group", Value::string(r.program().group))
        .add("start", Value::integer(start))
        .add("stop", Value::integer(stop))
        .add("now", Value::integer(now))
        .add("state", Value::integer(process_state_code(s)))
        .add("statename", Value::string(process_state_name(s)))
        .add("spawnerr", Value::string(spawnerr))
        .add("exitstatus", Value::integer(!exit ? 0 : exit->signaled ? -1 : exit->code))
        .add("logfile", Value::string(out_log))
        .add("stdout_logfile", Value::string(out_log))
        .add("stderr_logfile", Value::string(err_log))
        .add("pid", Value::integer(r.pid()))
        .add("description", Value::string(desc));
    return v;
}

void Interface::add_info_methods() {
    auto constant = [this](const std::string& name, std::string value, std::string help) {
        add(name, {{"string"}}, std::move(help), [value](const Args& a, Done done) {
            a.at_most(0);
            done(Result::ok(Value::string(value)));
        });
    };
    constant("supervisor.getAPIVersion", kApiVersion, "Return the version of the RPC API used by supervisord");
    constant("supervisor.getVersion", kApiVersion, "Deprecated alias of getAPIVersion");
    constant("supervisor.getSupervisorVersion", ControlApi::kVersion, "Return the version of vigild");
    add("supervisor.getIdentification", {{"string"}}, "Return the identifying string of this vigild",
        [this](const Args& a, Done done) {
            a.at_most(0);
            done(Result::ok(Value::string(sup_.config().daemon.identifier)));
        });
    add("supervisor.getState", {{"struct"}}, "Return current state of supervisord as a struct",
        [this](const Args& a, Done done) {
            a.at_most(0);
            // supervisord's SupervisorStates: RUNNING 1, SHUTDOWN -1.
            const bool down = sup_.shutting_down();
            Value v = Value::structure();
            v.add("statecode", Value::integer(down ? -1 : 1)).add("statename", Value::string(down ? "SHUTDOWN" : "RUNNING"));
            done(Result::ok(std::move(v)));
        });
    add("supervisor.getPID", {{"int"}}, "Return the PID of vigild", [](const Args& a, Done done) {
        a.at_most(0);
        done(Result::ok(Value::integer(::getpid())));
    });
    add("supervisor.getProcessInfo", {{"struct", "string"}}, "Get info about a process named name",
        [this](const Args& a, Done done) {
            a.at_most(1);
            std::string group;
            ProcessRunner* p = nullptr;
            Result fault;
            const std::string spec = a.string(0);
            if (!lookup(spec, group, p, fault)) return done(fault);
            if (!p) return done(Result::fault(BAD_NAME, spec));
            done(Result::ok(process_info(*p)));
        });
    add("supervisor.getAllProcessInfo", {{"array"}}, "Get info about all processes", [this](const Args& a, Done done) {
        a.at_most(0);
        auto procs = all_processes();
        std::sort(procs.begin(), procs.end(), [](const ProcessRunner* x, const ProcessRunner* y) {
            return std::tie(x->program().group, x->name()) < std::tie(y->program().group, y->name());
        });
        Value out = Value::array();
        out.items.reserve(procs.size());
        for (const ProcessRunner* p : procs) out.push(process_info(*p));
        done(Result::ok(std::move(out)));
    });
}

void Interface::for_each(const std::vector<ProcessRunner*>& procs,
                         const std::function<bool(const ProcessRunner&)>& pred, const Op& op, Done done) {
    struct Pending {
        std::vector<Value> slots;
        std::size_t left = 1;  // held by this function until every op is issued
        Done done;
    };
    auto st = std::make_shared<Pending>();
    st->done = std::move(done);
    struct Item {
        std::string name, group, spec;
    };
    std::vector<Item> chosen;
    for (ProcessRunner* p : procs)
        if (pred(*p)) chosen.push_back({p->name(), p->program().group, namespec(*p)});
    st->slots.resize(chosen.size());
    st->left += chosen.size();
    auto finish = [st] {
        if (--st->left) return;
        Value out = Value::array();
        out.items = std::move(st->slots);
        st->done(Result::ok(std::move(out)));
    };
    for (std::size_t i = 0; i < chosen.size(); ++i) {
        op(chosen[i].spec, [st, i, item = chosen[i], finish](Result r) {
            Value v = Value::structure();
            v.add("name", Value::string(item.name))
                .add("group", Value::string(item.group))
                .add("status", Value::integer(r.is_fault ? r.code : SUCCESS))
                .add("description", Value::string(r.is_fault ? r.text : "OK"));
            st->slots[i] = std::move(v);
            finish();
        });
    }
    finish();
}

}  // namespace vigil::supervisor::xmlrpc
