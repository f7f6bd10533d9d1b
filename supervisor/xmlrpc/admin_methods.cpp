// supervisor.* beyond start/stop: log files (read, tail, clear), the config
// (reloadConfig, add/removeProcessGroup, getAllConfigInfo), stdin and
// remote events, and the daemon (shutdown, restart, readLog).
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "supervisor/xmlrpc/interface.hpp"

namespace vigil::supervisor::xmlrpc {
namespace {

// One reply never carries more than this much of a log: supervisord reads
// whatever is asked, vigild answers with the first kMaxRead bytes of it.
constexpr std::int64_t kMaxRead = 1 << 20;

// supervisor.options.readFile, with its faults.
Result read_file(const std::string& path, std::int64_t offset, std::int64_t length) {
    if ((offset < 0 && length != 0) || length < 0) return Result::fault(BAD_ARGUMENTS);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Result::fault(FAILED);
    struct stat st {};
    ::fstat(fd, &st);
    const std::int64_t size = st.st_size;
    std::int64_t from = offset, count = length;
    if (offset < 0) {
        from = std::max<std::int64_t>(0, size + offset);
        count = -offset;
    } else if (length == 0) {
        count = std::max<std::int64_t>(0, size - offset);
    }
    count = std::clamp<std::int64_t>(std::min(count, size - from), 0, kMaxRead);
    std::string data(static_cast<std::size_t>(count), '\0');
    const ssize_t n = count > 0 ? ::pread(fd, data.data(), data.size(), from) : 0;
    ::close(fd);
    data.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return Result::ok(Value::string(std::move(data)));
}

// supervisor.options.tailFile: [bytes, new offset, overflow].
Value tail_file(const std::string& path, std::int64_t offset, std::int64_t length) {
    auto answer = [](std::string data, std::int64_t off, bool overflow) {
        Value v = Value::array();
        v.push(Value::string(std::move(data))).push(Value::integer(off)).push(Value::boolean(overflow));
        return v;
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return answer("", offset, false);
    struct stat st {};
    ::fstat(fd, &st);
    const std::int64_t sz = st.st_size;
    length = std::min(length, kMaxRead);
    bool overflow = false;
    if (sz > offset + length) {
        overflow = true;
        offset = sz - 1;
    }
    if (offset + length > sz) {
        if (offset > sz - 1) length = 0;
        offset = sz - length;
    }
    offset = std::max<std::int64_t>(offset, 0);
    length = std::max<std::int64_t>(length, 0);
    std::string data(static_cast<std::size_t>(length), '\0');
    const ssize_t n = length > 0 ? ::pread(fd, data.data(), data.size(), offset) : 0;
    ::close(fd);
    data.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return answer(std::move(data), sz, overflow);
}

// Empties a log and drops its rotated copies, as supervisord's clear does.
bool clear_log(const std::string& path, int backups) {
    if (path.empty()) return true;
    for (int i = 1; i <= backups; ++i) ::unlink((path + "." + std::to_string(i)).c_str());
    return ::truncate(path.c_str(), 0) == 0 || errno == ENOENT;
}

std::set<std::string> group_names(const std::vector<config::Program>& programs) {
    std::set<std::string> out;
    for (const auto& p : programs) out.insert(p.group);
    return out;
}

}  // namespace

std::string Interface::main_log_path() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/fd/2", buf, sizeof buf - 1);
    if (n <= 0) return {};
    buf[n] = '\0';
    struct stat st {};
    if (::fstat(2, &st) < 0 || !S_ISREG(st.st_mode) || buf[0] != '/') return {};
    return buf;
}

std::string Interface::log_path(const std::string& spec, const std::string& channel, bool& known) const {
    std::string group;
    ProcessRunner* p = nullptr;
    Result fault;
    known = const_cast<Interface*>(this)->lookup(spec, group, p, fault) && p;
    if (!known) return {};
    if (channel == "stderr") return p->program().redirect_stderr ? "" : p->program().stderr_log.path;
    return p->program().stdout_log.path;
}

void Interface::add_admin_methods() {
    auto process_of = [this](const std::string& spec, Done& done) -> ProcessRunner* {
        std::string group;
        ProcessRunner* p = nullptr;
        Result fault;
        if (!lookup(spec, group, p, fault)) return done(fault), nullptr;
        if (!p) return done(Result::fault(BAD_NAME, spec)), nullptr;
        return p;
    };
    // (name, offset, length) of read/tail: false once `done` is answered.
    auto log_args = [this, process_of](const Args& a, const std::string& channel, std::int64_t& offset,
                                       std::int64_t& length, std::string& path, Done& done) {
        a.at_most(3);
        const std::string spec = a.string(0);
        offset = a.integer(1);
        length = a.integer(2);
        if (!process_of(spec, done)) return false;
        bool known = false;
        path = log_path(spec, channel, known);
        return true;
    };
    for (const std::string channel : {"stdout", "stderr"}) {
        const std::string Channel = channel == "stdout" ? "Stdout" : "Stderr";
        add("supervisor.readProcess" + Channel + "Log", {{"string", "string", "int", "int"}},
            "Read length bytes from name's " + channel + " log starting at offset",
            [channel, log_args](const Args& a, Done done) {
                std::int64_t offset = 0, length = 0;
                std::string path;
                if (!log_args(a, channel, offset, length, path, done)) return;
                struct stat st {};
                if (path.empty() || ::stat(path.c_str(), &st) < 0) return done(Result::fault(NO_FILE, path));
                done(read_file(path, offset, length));
            });
        add("supervisor.tailProcess" + Channel + "Log", {{"array", "string", "int", "int"}},
            "Tail name's " + channel + " log: [bytes, offset, overflow]",
            [channel, log_args](const Args& a, Done done) {
                std::int64_t offset = 0, length = 0;
                std::string path;
                if (!log_args(a, channel, offset, length, path, done)) return;
                done(Result::ok(tail_file(path, offset, length)));
            });
    }
    add("supervisor.clearProcessLogs", {{"boolean", "string"}}, "Clear the stdout and stderr logs for the named process",
        [process_of](const Args& a, Done done) {
            a.at_most(1);
            const std::string spec = a.string(0);
            ProcessRunner* p = process_of(spec, done);
            if (!p) return;
            const auto& prog = p->program();
            const bool ok = clear_log(prog.stdout_log.path, prog.stdout_log.backups) &&
                            (prog.redirect_stderr || clear_log(prog.stderr_log.path, prog.stderr_log.backups));
            done(ok ? Result::ok(Value::boolean(true)) : Result::fault(FAILED, spec));
        });
    add("supervisor.clearAllProcessLogs", {{"array"}}, "Clear all process log files", [this](const Args& a, Done done) {
        a.at_most(0);
        for_each(all_processes(), [](const ProcessRunner&) { return true; },
                 [this](const std::string& spec, Done d) { dispatch("supervisor.clearProcessLogs", {Value::string(spec)}, d); },
                 std::move(done));
    });
    add("supervisor.readLog", {{"string", "int", "int"}}, "Read length bytes from vigild's log starting at offset",
        [](const Args& a, Done done) {
            a.at_most(2);
            const auto offset = a.integer(0), length = a.integer(1);
            const std::string path = main_log_path();
            if (path.empty()) return done(Result::fault(NO_FILE, "vigild logs to a stream (journal or terminal), not a file"));
            done(read_file(path, offset, length));
        });
    add("supervisor.clearLog", {{"boolean"}}, "Clear vigild's log", [](const Args& a, Done done) {
        a.at_most(0);
        if (main_log_path().empty()) return done(Result::fault(NO_FILE));
        done(::ftruncate(2, 0) == 0 ? Result::ok(Value::boolean(true)) : Result::fault(FAILED, std::strerror(errno)));
    });
    add("supervisor.reloadConfig", {{"array"}}, "Reload the configuration: [[added, changed, removed]] group names",
        [this](const Args& a, Done done) {
            a.at_most(0);
            auto loaded = reload_();
            if (!loaded.ok()) {
                std::string why;
                for (const auto& e : loaded.errors) why += (why.empty() ? "" : "; ") + e.to_string();
                return done(Result::fault(CANT_REREAD, why));
            }
            const core::ConfigDiff d = sup_.plan(*loaded.config);
            std::vector<config::Program> running;
            for (ProcessRunner* r : all_processes()) running.push_back(r->program());
            const auto now = group_names(running), next = group_names(loaded.config->programs);
            std::set<std::string> touched;
            for (const auto* list : {&d.added, &d.changed, &d.removed})
                for (const auto& n : *list) {
                    if (const ProcessRunner* r = sup_.find(n)) touched.insert(r->program().group);
                    if (const config::Program* p = loaded.config->find(n)) touched.insert(p->group);
                }
            Value added = Value::array(), changed = Value::array(), removed = Value::array();
            for (const auto& g : next)
                if (!now.count(g)) added.push(Value::string(g));
                else if (touched.count(g)) changed.push(Value::string(g));
            for (const auto& g : now)
                if (!next.count(g)) removed.push(Value::string(g));
            reread_ = std::move(*loaded.config);
            Value inner = Value::array();
            inner.push(std::move(added)).push(std::move(changed)).push(std::move(removed));
            done(Result::ok(Value::array().push(std::move(inner))));
        });
    add("supervisor.addProcessGroup", {{"boolean", "string"}}, "Update the config for a running process from config file",
        [this](const Args& a, Done done) {
            a.at_most(1);
            const std::string name = a.string(0);
            if (!group_processes(name).empty()) return done(Result::fault(ALREADY_ADDED, name));
            if (!reread_) {
                auto loaded = reload_();
                if (!loaded.ok()) return done(Result::fault(CANT_REREAD, name));
                reread_ = std::move(*loaded.config);
            }
            if (!group_names(reread_->programs).count(name)) return done(Result::fault(BAD_NAME, name));
            sup_.update(*reread_, {name});
            done(Result::ok(Value::boolean(true)));
        });
    add("supervisor.removeProcessGroup", {{"boolean", "string"}}, "Remove a stopped process group from the active configuration",
        [this](const Args& a, Done done) {
            a.at_most(1);
            const std::string name = a.string(0);
            const auto procs = group_processes(name);
            if (procs.empty()) return done(Result::fault(BAD_NAME, name));
            for (const ProcessRunner* p : procs)
                if (p->state() != core::State::stopped && p->state() != core::State::exited &&
                    p->state() != core::State::fatal)
                    return done(Result::fault(STILL_RUNNING, name));
            // The running config without the group: update() then drops it.
            config::Config next = sup_.config();
            std::erase_if(next.programs, [&](const config::Program& p) { return p.group == name; });
            std::erase_if(next.groups, [&](const config::Group& g) { return g.name == name; });
            sup_.update(std::move(next), {name});
            done(Result::ok(Value::boolean(true)));
        });
    add("supervisor.getAllConfigInfo", {{"array"}}, "Get info about all available process configurations",
        [this](const Args& a, Done done) {
            a.at_most(0);
            const config::Config& c = reread_ ? *reread_ : sup_.config();
            std::vector<const config::Program*> progs;
            for (const auto& p : c.programs) progs.push_back(&p);
            std::sort(progs.begin(), progs.end(), [](auto* x, auto* y) { return x->name < y->name; });
            Value out = Value::array();
            for (const config::Program* p : progs) {
                int group_prio = p->priority;
                for (const auto& g : c.groups)
                    if (g.name == p->group) group_prio = g.priority;
                Value uid = Value::string("none");
                if (!p->user.empty())
                    if (const passwd* pw = ::getpwnam(p->user.c_str())) uid = Value::integer(pw->pw_uid);
                Value codes = Value::array();
                for (int e : p->exitcodes) codes.push(Value::integer(e));
                auto ms_to_s = [](config::Duration d) { return Value::integer(d.count() / 1000); };
                auto text = [](const std::string& s) { return Value::string(s.empty() ? "none" : s); };
                Value v = Value::structure();
                v.add("autostart", Value::boolean(p->autostart))
                    .add("directory", text(p->directory))
                    .add("uid", std::move(uid))
                    .add("command", Value::string(p->command))
                    .add("exitcodes", std::move(codes))
                    .add("group", Value::string(p->group))
                    .add("group_prio", Value::integer(group_prio))
                    .add("inuse", Value::boolean(!group_processes(p->group).empty()))
                    .add("killasgroup", Value::boolean(p->killasgroup))
                    .add("name", Value::string(p->name))
                    .add("process_prio", Value::integer(p->priority))
                    .add("redirect_stderr", Value::boolean(p->redirect_stderr))
                    .add("startretries", Value::integer(p->startretries ? *p->startretries : -1))
                    .add("startsecs", ms_to_s(p->startsecs))
                    .add("stopsignal", Value::integer(p->stopsignal))
                    .add("stopwaitsecs", ms_to_s(p->stopwaitsecs))
                    .add("serverurl", Value::string(p->serverurl.empty() ? "AUTO" : p->serverurl));
                struct Stream {
                    const char* name;
                    const config::LogTarget* log;
                    std::uint64_t capture;
                    bool events;
                };
                const Stream streams[] = {
                    {"stdout", &p->stdout_log, p->stdout_capture_maxbytes, p->stdout_events_enabled},
                    {"stderr", &p->stderr_log, p->stderr_capture_maxbytes, p->stderr_events_enabled}};
                for (const Stream& st : streams) {
                    const std::string pre = st.name;
                    const config::LogTarget* log = st.log;
                    v.add(pre + "_capture_maxbytes", Value::integer(static_cast<std::int64_t>(st.capture)))
                        .add(pre + "_events_enabled", Value::boolean(st.events))
                        .add(pre + "_logfile", text(log->path))
                        .add(pre + "_logfile_backups", Value::integer(log->backups))
                        .add(pre + "_logfile_maxbytes", Value::integer(static_cast<std::int64_t>(log->max_bytes)))
                        .add(pre + "_syslog", Value::boolean(log->syslog));
                }
                out.push(std::move(v));
            }
            done(Result::ok(std::move(out)));
        });
    add("supervisor.sendProcessStdin", {{"boolean", "string", "string"}}, "Send a string of chars to the stdin of the process",
        [process_of](const Args& a, Done done) {
            a.at_most(2);
            const std::string spec = a.string(0);
            const Value& chars = a.any(1);
            if (chars.type != Value::Type::string && chars.type != Value::Type::base64)
                return done(Result::fault(INCORRECT_PARAMETERS, "chars must be a string"));
            ProcessRunner* p = process_of(spec, done);
            if (!p) return;
            if (p->pid() <= 0) return done(Result::fault(NOT_RUNNING, spec));
            // vigild hands programs /dev/null as stdin: there is no pipe to write to.
            done(Result::fault(NO_FILE, spec + ": vigil gives programs no stdin pipe"));
        });
    add("supervisor.sendRemoteCommEvent", {{"boolean", "string", "string"}}, "Send an event that will be received by event listener subprocesses subscribing to the RemoteCommunicationEvent",
        [this](const Args& a, Done done) {
            a.at_most(2);
            const std::string type = a.string(0), data = a.string(1);
            if (remote_events_) remote_events_(type, data);
            done(Result::ok(Value::boolean(true)));
        });
    add("supervisor.shutdown", {{"boolean"}}, "Shut down vigild: every program is stopped first", [this](const Args& a, Done done) {
        a.at_most(0);
        boost::asio::post(io_, shutdown_);
        done(Result::ok(Value::boolean(true)));
    });
    add("supervisor.restart", {{"boolean"}}, "Reread the config, apply it, and restart every running program",
        [this](const Args& a, Done done) {
            a.at_most(0);
            auto loaded = reload_();
            if (!loaded.ok()) return done(Result::fault(CANT_REREAD, "the config has errors; nothing restarted"));
            const core::ConfigDiff d = sup_.update(std::move(*loaded.config));
            reread_.reset();
            for (const auto& n : d.unchanged)
                if (ProcessRunner* r = sup_.find(n); r && !core::is_down(r->state())) sup_.request_restart(*r);
            done(Result::ok(Value::boolean(true)));
        });
}

}  // namespace vigil::supervisor::xmlrpc
