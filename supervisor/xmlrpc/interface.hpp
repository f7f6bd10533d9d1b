// supervisord's XML-RPC interface (API version 3.0) over vigil's Supervisor:
// supervisor.* and system.* with supervisord's names, argument orders,
// struct fields and fault codes, so supervisorctl, the Python xmlrpc client
// and the tools built on them drive vigild unchanged. Every action goes
// through the same public Supervisor methods as vigil's JSON API; this class
// only translates. Where vigil and supervisord differ on purpose, the
// difference is in docs/control.md ("XML-RPC").
//
// Split by topic: interface.cpp (dispatch, system.*, names, process info),
// process_methods.cpp (start/stop/signal), admin_methods.cpp (logs,
// config, daemon).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/loader.hpp"
#include "supervisor/access.hpp"
#include "supervisor/supervisor.hpp"
#include "supervisor/xmlrpc/value.hpp"

namespace vigil::supervisor::xmlrpc {

// supervisor.xmlrpc.Faults
enum Fault : int {
    UNKNOWN_METHOD = 1,
    INCORRECT_PARAMETERS = 2,
    BAD_ARGUMENTS = 3,
    SIGNATURE_UNSUPPORTED = 4,
    SHUTDOWN_STATE = 6,
    BAD_NAME = 10,
    BAD_SIGNAL = 11,
    NO_FILE = 20,
    NOT_EXECUTABLE = 21,
    FAILED = 30,
    ABNORMAL_TERMINATION = 40,
    SPAWN_ERROR = 50,
    ALREADY_STARTED = 60,
    NOT_RUNNING = 70,
    SUCCESS = 80,
    ALREADY_ADDED = 90,
    STILL_RUNNING = 91,
    CANT_REREAD = 92,
};
const char* fault_name(int code);

// supervisor.states.ProcessStates: vigil's seven states map one to one
// (UNKNOWN, 1000, is never reported).
int process_state_code(core::State s);
const char* process_state_name(core::State s);

struct Result {
    bool is_fault = false;
    int code = 0;
    std::string text;  // "BAD_NAME: foo", as supervisord's RPCError
    Value value;
    static Result ok(Value v) {
        Result r;
        r.value = std::move(v);
        return r;
    }
    static Result fault(int code, const std::string& extra = {});
};

// A method's arguments, checked as they are read: a missing argument or one
// of the wrong type throws BadParams, answered as INCORRECT_PARAMETERS (what
// supervisord answers when Python cannot bind the call).
struct BadParams {
    std::string why;
};
class Args {
public:
    explicit Args(const std::vector<Value>& v) : v_(v) {}
    std::size_t size() const { return v_.size(); }
    void at_most(std::size_t n) const;
    std::string string(std::size_t i) const;
    std::int64_t integer(std::size_t i) const;
    bool boolean(std::size_t i, bool fallback) const;
    const Value& any(std::size_t i) const;

private:
    const std::vector<Value>& v_;
};

class Interface {
public:
    using Reply = std::function<void(std::string xml)>;
    using Reloader = std::function<config::LoadResult()>;

    Interface(boost::asio::io_context& io, Supervisor& sup, Reloader reload, std::function<void()> shutdown);
    ~Interface();
    Interface(const Interface&) = delete;
    Interface& operator=(const Interface&) = delete;

    // Where sendRemoteCommEvent's (type, data) go: the event listeners'
    // REMOTE_COMMUNICATION (supervisor/events/event_bus.hpp).
    using RemoteEvents = std::function<void(const std::string& type, const std::string& data)>;
    void set_remote_events(RemoteEvents fn) { remote_events_ = std::move(fn); }

    // One POST /RPC2 body in, one methodResponse out (now, or later for
    // calls that wait). Never throws.
    // `access`: a read-only caller gets a fault for any method that acts
    // (supervisor/access.hpp), inside system.multicall too.
    void handle(std::string_view body, Reply reply, Access access = Access::full());

    // vigild's own log when its stderr is a regular file (readLog, clearLog,
    // maintail), else empty.
    static std::string main_log_path();
    // A process's log file for "stdout"/"stderr" (/logtail), or "".
    std::string log_path(const std::string& namespec, const std::string& channel, bool& known) const;

    static constexpr const char* kApiVersion = "3.0";
    // How long a waiting start/stop may take before it is answered FAILED.
    static constexpr std::chrono::hours kWaitLimit{1};

private:
    using Done = std::function<void(Result)>;
    using Method = std::function<void(const Args&, Done)>;
    struct Entry {
        Method fn;
        std::vector<std::vector<std::string>> signatures;  // return type first
        std::string help;
    };

    void add(const std::string& name, std::vector<std::vector<std::string>> sig, std::string help, Method fn);
    void add_system_methods();
    void add_info_methods();
    void add_process_methods();  // process_methods.cpp
    void add_admin_methods();    // admin_methods.cpp
    void dispatch(const std::string& method, const std::vector<Value>& params, Done done);
    void multicall(const Value& calls, Done done);
    // The caller of the request being dispatched: multicall takes it along
    // to its later calls, which run after handle() has returned.
    Access calling_ = Access::full();

    // supervisord's namespecs: "group:name", "group:*", or "name" (= "name:name").
    // Returns false with `fault` set for an unknown name; `process` stays null
    // for a whole group.
    bool lookup(const std::string& spec, std::string& group, ProcessRunner*& process, Result& fault);
    std::vector<ProcessRunner*> group_processes(const std::string& group);
    std::vector<ProcessRunner*> all_processes();
    Value process_info(const ProcessRunner& r) const;
    std::int64_t last_start(const ProcessRunner& r) const;

    // supervisord's make_allfunc: `op` on each process that `pred` accepts,
    // one {name, group, status, description} per process, in order.
    using Op = std::function<void(const std::string& namespec, Done)>;
    void for_each(const std::vector<ProcessRunner*>& procs, const std::function<bool(const ProcessRunner&)>& pred,
                  const Op& op, Done done);
    // The process `spec` names; for "group:*" runs `op` on the group's
    // processes that `pred` accepts (answering `done`), or answers BAD_NAME,
    // and returns null.
    ProcessRunner* single(const std::string& spec, const std::function<bool(const ProcessRunner&)>& pred, const Op& op,
                          Done& done);
    void start_process(const std::string& spec, bool wait, Done done);
    void stop_process(const std::string& spec, bool wait, Done done);
    void signal_process(const std::string& spec, const Value& signal, Done done);
    void wait_for(const std::string& name, bool up, std::function<void()> then);

    boost::asio::io_context& io_;
    Supervisor& sup_;
    Reloader reload_;
    std::function<void()> shutdown_;
    RemoteEvents remote_events_;
    std::map<std::string, Entry> methods_;
    // Wall-clock times of each process's last start and stop (supervisord's
    // laststart/laststop), kept from the transitions vigild reports.
    std::map<std::string, std::int64_t> started_, stopped_;
    std::uint64_t observer_ = 0;
    // The config read by the last reloadConfig (getAllConfigInfo, as
    // supervisord shows what its last reread found).
    std::optional<config::Config> reread_;
};

}  // namespace vigil::supervisor::xmlrpc
