#include "supervisor/control_api.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <set>

#include "common/percent.hpp"
#include "config/units.hpp"
#include "proxy/admin_protocol.hpp"
#include "supervisor/control_protocol.hpp"
#include "supervisor/metrics.hpp"
#include "supervisor/process_json.hpp"
#include "supervisor/replication/manager.hpp"
#include "supervisor/proxy_link.hpp"
#include "supervisor/reexec.hpp"
#include "supervisor/rolling_restart.hpp"
#include "supervisor/waiter.hpp"
#include "supervisor/web/web_page.hpp"

namespace vigil::supervisor {
namespace {

using json = nlohmann::json;
namespace field = control::field;
namespace route = control::route;

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i < path.size()) {
        const std::size_t j = std::min(path.find('/', i), path.size());
        if (j > i) parts.push_back(path.substr(i, j - i));
        i = j + 1;
    }
    return parts;
}

std::string query_param(const std::string& query, std::string_view key) {
    std::size_t i = 0;
    while (i < query.size()) {
        const std::size_t amp = std::min(query.find('&', i), query.size());
        const std::string kv = query.substr(i, amp - i);
        const std::size_t eq = kv.find('=');
        if (kv.substr(0, eq) == key) return eq == std::string::npos ? "1" : kv.substr(eq + 1);
        i = amp + 1;
    }
    return {};
}

// Percent-decoding for names in paths ("G%3A%2A" from careful clients).
std::string url_decode(const std::string& s) { return percent_decode(s); }

// Replies quote what clients and children send (names in paths, parse
// errors, health details): bytes that are not UTF-8 become U+FFFD instead of
// throwing out of dump().
std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiResponse json_response(int status, const json& j) {
    ApiResponse r;
    r.status = status;
    r.body = dump(j) + "\n";
    return r;
}

json diff_json(const core::ConfigDiff& d) {
    return json{{field::added, d.added},
                {field::changed, d.changed},
                {field::removed, d.removed},
                {field::unchanged, d.unchanged}};
}

json errors_json(const std::vector<config::Error>& errors) {
    json arr = json::array();
    for (const auto& e : errors) arr.push_back(e.to_string());
    return arr;
}

}  // namespace

ApiResponse error_response(int status, const std::string& message) {
    return json_response(status, json{{field::error, message}});
}

std::string health_event_line(const ProcessRunner& r, core::HealthStatus from, core::HealthStatus to,
                              const std::string& detail) {
    const auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    return json{{"type", "health"},
                {"time", now},
                {"name", r.name()},
                {"from", std::string(core::health_status_name(from))},
                {"to", std::string(core::health_status_name(to))},
                {"detail", detail}}
               .dump(-1, ' ', false, json::error_handler_t::replace) +
           "\n";
}

std::string note_event_line(const std::string& name, const std::string& topic, const std::string& text, bool warning) {
    const auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    return json{{"type", topic}, {"time", now}, {"name", name}, {"text", text}, {"warning", warning}}.dump(
               -1, ' ', false, json::error_handler_t::replace) +
           "\n";
}

std::string event_line(const ProcessRunner& r, const core::Decision& d) {
    const auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    return json{{"type", "state"},
                {"time", now},
                {"name", r.name()},
                {"from", std::string(core::state_name(d.from))},
                {"to", std::string(core::state_name(d.to))},
                {"pid", r.pid()},
                {"reason", d.reason}}
               .dump(-1, ' ', false, json::error_handler_t::replace) +
           "\n";
}

void ProgressFeed::push(std::string line) {
    if (finished_) return;
    if (sink_) sink_(std::move(line));
    else backlog_.push_back(std::move(line));
}

void ProgressFeed::finish() {
    if (finished_) return;
    finished_ = true;
    if (end_) {
        auto end = std::move(end_);
        sink_ = nullptr;
        end_ = nullptr;
        end();
    }
}

void ProgressFeed::attach(Sink sink, End end) {
    for (auto& line : backlog_) sink(std::move(line));
    backlog_.clear();
    if (finished_) return end();
    sink_ = std::move(sink);
    end_ = std::move(end);
}

ControlApi::ControlApi(boost::asio::io_context& io, Supervisor& sup, Reloader reload, std::function<void()> shutdown)
    : io_(io), sup_(sup), reload_(std::move(reload)), shutdown_(std::move(shutdown)) {}

void ControlApi::handle(const ApiRequest& req, Reply reply) {
    try {
        const std::size_t q = req.target.find('?');
        const std::string path = req.target.substr(0, q);
        const std::string query = q == std::string::npos ? "" : req.target.substr(q + 1);
        std::vector<std::string> parts = split_path(path);
        for (auto& p : parts) p = url_decode(p);
        const bool get = req.method == "GET", post = req.method == "POST";
        // Decided on the path as the routes below read it (decoded, empty
        // segments gone), so no spelling of a route slips past the check.
        std::string canonical;
        for (const auto& p : parts) canonical += "/" + p;
        if (std::string why = refused_route(req.access, req.method, canonical.empty() ? "/" : canonical); !why.empty())
            return reply(error_response(403, why));

        if (web_) {
            if (auto refused = web_->refuse_cross_site(req)) return reply(std::move(*refused));
            if (web_->route(req, path, reply)) return;
        }
        if (supervisord_route(req, path, reply)) return;
        if (path == "/metrics" && get) {
            ApiResponse r;
            r.content_type = "text/plain; version=0.0.4";
            r.body = render_metrics(sup_);
            if (!proxy_ || !proxy_->enabled()) return reply(std::move(r));
            // The proxy's own series (vigil_proxy_*) follow vigild's; a proxy
            // that is down leaves them out rather than failing the scrape.
            return proxy_->get(std::string(proxy::admin::metrics), [r = std::move(r), reply](int status, std::string body) mutable {
                if (status == 200) r.body += body;
                reply(std::move(r));
            });
        }
        if (parts.size() < 2 || parts[0] != control::prefix)
            return reply(error_response(404, "no such resource: " + path));
        const std::string& res = parts[1];
        if (res == route::access && parts.size() == 2 && get)
            return reply(json_response(200, json{{field::access, req.access.name()}, {field::logs, req.access.logs}}));
        if (res == route::version && parts.size() == 2 && get) {
            json v{{field::version, kVersion}, {field::pid, ::getpid()}};
            if (reexec_) {
                v[field::reexecs] = reexec_->reexecs();
                v[field::reexec_failures] = reexec_->failures();
                v[field::reexec_error] = reexec_->last_error();
            }
            return reply(json_response(200, v));
        }
        if (res == route::reexec && parts.size() == 2 && post) return reply(reexec());
        if (res == route::shutdown && parts.size() == 2 && post) {
            boost::asio::post(io_, shutdown_);
            return reply(json_response(202, json{{field::ok, true}, {field::message, "shutting down"}}));
        }
        if (res == route::reopen && parts.size() == 2 && post) {
            if (!reopen_) return reply(error_response(404, "no such resource: " + path));
            return reply(json_response(200, json{{field::ok, true}, {field::reopened, reopen_()}}));
        }
        if (res == route::events && parts.size() == 2 && get) {
            ApiResponse r;
            r.content_type = "application/x-ndjson";
            r.stream = ApiResponse::Stream::events;
            return reply(std::move(r));
        }
        if (res == route::config && parts.size() == 3 && post) {
            if (parts[2] == route::reread) return reply(config_reread());
            if (parts[2] == route::update) return reply(config_update(req.body));
        }
        if (res == route::reload && parts.size() == 2 && post) return reply(config_update("{}"));
        if (res == route::upstreams && parts.size() == 2 && get) {
            if (!proxy_ || !proxy_->enabled()) return reply(error_response(404, "no kind = proxy program is configured"));
            return proxy_->get(std::string(proxy::admin::pools), [reply](int status, std::string body) {
                if (status == 0) return reply(error_response(503, "vigil-proxy is not answering: " + body));
                ApiResponse r;
                r.status = status;
                r.body = std::move(body);
                reply(std::move(r));
            });
        }
        if (res == route::programs) {
            const std::string_view action = parts.size() == 4 ? std::string_view(parts[3]) : std::string_view();
            if (parts.size() == 2 && get) return reply(programs_list(query_param(query, control::query::fields), req.access.logs));
            if (parts.size() == 3 && get) return reply(program_one(parts[2], req.access.logs));
            if (get && action == route::log) return reply(program_log(parts[2], query));
            if (get && action == route::health) return reply(program_health(parts[2]));
            if (post && (action == route::start || action == route::stop || action == route::restart))
                return program_action(parts[2], parts[3], req.body, std::move(reply));
            if (post && action == route::signal) return reply(program_signal(parts[2], req.body));
            if (post && (action == route::switchover || action == route::failover || action == route::unfence))
                return reply(program_promote(parts[2], parts[3], req.body));
            if (post && action == route::wait) return program_wait(parts[2], req.body, std::move(reply));
            if (post && action == route::rolling_restart) return rolling_restart(parts[2], req.body, std::move(reply));
        }
        const bool known = res == route::programs || res == route::config || res == route::version ||
                           res == route::shutdown || res == route::events || res == route::reload ||
                           res == route::upstreams || res == route::reopen || res == route::access ||
                           res == route::reexec;
        return reply(known ? error_response(405, req.method + " is not allowed on " + path)
                           : error_response(404, "no such resource: " + path));
    } catch (const std::exception& e) {
        // A bad body (JSON type errors and the like) is the client's fault,
        // never a reason for vigild to go down.
        // `reply` is empty when program_action took it and then threw; the
        // waiter holding it answers or, dropped, closes the connection.
        if (reply) reply(error_response(400, std::string("bad request: ") + e.what()));
    }
}

// Checked before the 202, so a refusal reaches the client with its reason;
// the exec itself comes once that reply is written.
ApiResponse ControlApi::reexec() {
    if (!reexec_) return error_response(404, "re-exec is not available in this vigild");
    std::string why;
    for (const auto& name : sup_.order())
        if (why.empty() && sup_.set().rolling(name))
            why = "a rolling restart is working on " + name + "; try again once it is done";
    // The incoming and retiring proxies of a handover are runners beside the
    // program's own, which the carried state does not hold.
    if (why.empty() && (sup_.set().handover_under_way() || sup_.set().retiring_count() > 0))
        why = "a proxy handover is under way (an old vigil-proxy still draining); try again once it is done";
    if (why.empty()) why = reexec_->refusal();
    if (!why.empty()) {
        spdlog::warn("re-exec refused: {}", why);
        return error_response(409, "cannot re-execute vigild now: " + why);
    }
    ApiResponse r = json_response(
        202, json{{field::ok, true}, {field::message, "re-executing"}, {field::pid, ::getpid()},
                  {field::reexecs, reexec_->reexecs()}, {field::reexec_failures, reexec_->failures()}});
    r.after_write = [rx = reexec_] { rx->begin(); };
    return r;
}

// `fields=a,b,c` keeps only those keys: `vigilctl status` of 200 programs
// then moves a fifth of the bytes and parses a fifth of the JSON.
ApiResponse ControlApi::programs_list(const std::string& fields, bool with_output) const {
    std::set<std::string> keep;
    for (std::size_t i = 0; i < fields.size();) {
        const std::size_t comma = std::min(fields.find(',', i), fields.size());
        keep.insert(fields.substr(i, comma - i));
        i = comma + 1;
    }
    json arr = json::array();
    for (const auto& name : sup_.order()) {
        const ProcessRunner* r = sup_.find(name);
        if (!r) continue;
        json p = process_json(*r, sup_, with_output);
        if (!keep.empty()) {
            json slim = json::object();
            for (const auto& k : keep)
                if (p.contains(k)) slim[k] = std::move(p[k]);
            p = std::move(slim);
        }
        arr.push_back(std::move(p));
    }
    return json_response(200, arr);
}

ApiResponse ControlApi::program_one(const std::string& name, bool with_output) const {
    const ProcessRunner* r = sup_.find(name);
    if (!r) return error_response(404, "no such process: " + name);
    json j = process_json(*r, sup_, with_output);
    // Where a data store lives, for `vigilctl backup|restore` (never a secret).
    const config::Program& p = r->program();
    j[field::kind] = p.kind;
    j[field::user] = p.user;
    j[field::address] = p.address;
    const auto& lim = p.limits;
    j[field::limits] = {{field::memory_bytes, lim.memory_bytes ? json(*lim.memory_bytes) : json(nullptr)},
                        {field::cpu_cores, lim.cpu_cores ? json(*lim.cpu_cores) : json(nullptr)},
                        {field::pids, lim.pids ? json(*lim.pids) : json(nullptr)}};
    if (p.kind == "postgres" || p.kind == "redis")
        j[field::store] = {{field::data_dir, p.data_dir},
                           {field::pg_bin_dir, p.pg_bin_dir},
                           {field::redis_bin, p.redis_bin},
                           {field::db_user, p.db_user.empty() ? "postgres" : p.db_user},
                           {field::db_name, p.db_name.empty() ? "postgres" : p.db_name}};
    return json_response(200, j);
}

void ControlApi::program_action(const std::string& spec, const std::string& action, const std::string& body,
                                Reply reply) {
    // `reply` is this function's now: a bad body must be answered here, not
    // thrown to handle(), whose own reply has been moved from.
    json opts;
    bool wait = true;
    double timeout_s = 60.0;
    try {
        opts = body.empty() ? json::object() : json::parse(body);
        if (!opts.is_object()) return reply(error_response(400, "body must be a JSON object"));
        wait = opts.value(field::wait, true);
        timeout_s = opts.value(field::timeout, 60.0);
    } catch (const std::exception& e) {
        return reply(error_response(400, std::string("bad request: ") + e.what()));
    }
    if (!(timeout_s > 0 && timeout_s <= 86400)) return reply(error_response(400, "timeout must be within (0, 86400] s"));
    std::string error;
    auto runners = sup_.resolve(spec, error);
    if (runners.empty()) return reply(error_response(404, error));

    auto request = [&](ProcessRunner& r) {
        if (action == route::start) sup_.request_start(r);
        else if (action == route::stop) sup_.request_stop(r);
        else sup_.request_restart(r);
    };
    std::vector<std::string> names;
    for (ProcessRunner* r : runners) names.push_back(r->name());
    if (!wait) {
        json results = json::array();
        for (const auto& n : names) {
            if (ProcessRunner* r = sup_.find(n)) {
                request(*r);
                results.push_back({{field::name, n},
                                   {field::ok, true},
                                   {field::state, std::string(core::state_name(r->state()))},
                                   {field::message, action + " requested"}});
            }
        }
        return reply(json_response(200, json{{field::ok, true}, {field::results, results}}));
    }
    auto waiter = std::make_shared<Waiter>(io_, sup_, [reply = std::move(reply)](bool ok, bool, json results) {
        reply(json_response(ok ? 200 : 409, json{{field::ok, ok}, {field::results, std::move(results)}}));
    });
    const auto goal = action == route::stop      ? Waiter::Goal::down
                      : action == route::restart ? Waiter::Goal::restarted
                                                 : Waiter::Goal::up;
    for (ProcessRunner* r : runners) {
        const bool down = r->state() == core::State::stopped || r->state() == core::State::exited ||
                          r->state() == core::State::fatal;
        // A restart of something that is down is a plain start: nothing to see go down first.
        waiter->add(r->name(), goal == Waiter::Goal::restarted && down ? Waiter::Goal::up : goal);
    }
    // Requests change state synchronously (and may finish instantly), so the
    // waiter subscribes first and then each request is made.
    waiter->start(std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)));
    for (const auto& n : names)
        if (ProcessRunner* r = sup_.find(n)) request(*r);
}

ApiResponse ControlApi::program_signal(const std::string& spec, const std::string& body) {
    const json opts = json::parse(body.empty() ? "{}" : body);
    if (!opts.is_object() || !opts.contains(field::signal)) return error_response(400, "body needs {\"signal\": NAME}");
    const json& s = opts[field::signal];
    const auto sig = s.is_number_integer() ? std::optional<int>(s.get<int>())
                                           : config::parse_signal(s.is_string() ? s.get<std::string>() : "");
    // Only a scalar is quoted back: dump() of a deeply nested array would recurse off the stack.
    if (!sig || *sig <= 0 || *sig >= NSIG)
        return error_response(400, "unknown signal " + (s.is_primitive() ? dump(s) : std::string(s.type_name())));
    std::string error;
    auto runners = sup_.resolve(spec, error);
    if (runners.empty()) return error_response(404, error);
    json results = json::array();
    bool ok = true;
    for (ProcessRunner* r : runners) {
        const bool running = r->pid() > 0;
        ok = ok && running;
        if (running) ::kill(r->pid(), *sig);
        results.push_back(
            {{field::name, r->name()}, {field::ok, running}, {field::message, running ? "signalled" : "not running"}});
    }
    return json_response(ok ? 200 : 409, json{{field::ok, ok}, {field::results, results}});
}

// Begins the switchover or failover (or unfences NAME); the caller follows
// it in GET /v1/programs/NAME (replication.role, replication.operation).
ApiResponse ControlApi::program_promote(const std::string& name, const std::string& action, const std::string& body) {
    if (!sup_.find(name)) return error_response(404, "no such process: " + name);
    if (!replication_) return error_response(409, name + " is not part of a replicated pair (replica_of)");
    const json opts = json::parse(body.empty() ? "{}" : body);
    const bool force = opts.is_object() && opts.value("force", false);
    const std::string error = action == route::switchover ? replication_->switchover(name)
                              : action == route::unfence  ? replication_->unfence(name)
                                                          : replication_->failover(name, force);
    if (!error.empty()) return error_response(409, error);
    if (action == route::unfence)
        return json_response(202, json{{field::ok, true}, {field::message, name + " unfenced: starting it as the primary"}});
    return json_response(202, json{{field::ok, true}, {field::message, std::string(action) + " to " + name + " begun"}});
}

ApiResponse ControlApi::program_log(const std::string& name, const std::string& query) const {
    const ProcessRunner* r = sup_.find(name);
    if (!r) return error_response(404, "no such process: " + name);
    std::string stream = query_param(query, control::query::stream);
    if (stream.empty()) stream = "stdout";
    if (stream != "stdout" && stream != "stderr") return error_response(400, "stream must be stdout or stderr");
    const auto& target = stream == "stdout" || r->program().redirect_stderr ? r->program().stdout_log
                                                                             : r->program().stderr_log;
    if (target.path.empty()) return error_response(404, name + ": " + stream + " is not logged (NONE)");
    const std::string off = query_param(query, control::query::offset);
    long long offset = -1600;
    try {
        if (!off.empty()) offset = std::stoll(off);
    } catch (const std::exception&) {
        return error_response(400, "offset must be an integer");
    }
    ApiResponse resp;
    resp.content_type = "text/plain; charset=utf-8";
    const int fd = ::open(target.path.c_str(), O_RDONLY | O_CLOEXEC);
    long long size = 0;
    if (fd >= 0) {
        struct stat st {};
        ::fstat(fd, &st);
        size = st.st_size;
        long long from = offset < 0 ? std::max(0LL, size + offset) : std::min(offset, size);
        constexpr long long kMaxRead = 1 << 20;  // one reply never carries more than 1 MiB
        from = std::max(from, size - kMaxRead);
        resp.body.resize(static_cast<std::size_t>(size - from));
        const ssize_t n = ::pread(fd, resp.body.data(), resp.body.size(), from);
        resp.body.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        ::close(fd);
    }
    resp.log_offset = std::to_string(size);
    if (query_param(query, control::query::follow) == "1") {
        resp.stream = ApiResponse::Stream::log;
        resp.stream_process = name;
        resp.stream_fd = stream == "stdout" || r->program().redirect_stderr ? 1 : 2;
    }
    return resp;
}

ApiResponse ControlApi::program_health(const std::string& name) const {
    const ProcessRunner* r = sup_.find(name);
    if (!r) return error_response(404, "no such process: " + name);
    const health::HealthMonitor* m = r->monitor();
    if (!m) return error_response(404, name + " has no healthcheck");
    const auto h = r->health();
    json results = json::array();
    for (const auto& rec : m->history()) {
        results.push_back({{field::time, std::chrono::duration<double>(rec.at.time_since_epoch()).count()},
                           {field::ok, rec.ok},
                           {"startup", rec.startup},
                           {field::latency_ms, std::chrono::duration<double, std::milli>(rec.latency).count()},
                           {field::detail, rec.detail}});
    }
    json out{{field::name, name},
             {field::status, h ? std::string(core::health_status_name(*h)) : ""},
             {field::check, r->program().health.target},
             {field::checks_passed, m->checks_passed()},
             {field::checks_failed, m->checks_failed()},
             {field::results, results}};
    // A data store's health includes where it stands in its pair.
    if (const auto* repl = sup_.replication())
        if (auto v = repl->view(name)) out["replication"] = v->text();
    return json_response(200, out);
}

void ControlApi::rolling_restart(const std::string& spec, const std::string& body, Reply reply) {
    core::RollOptions options;
    try {
        const json opts = body.empty() ? json::object() : json::parse(body);
        if (!opts.is_object()) return reply(error_response(400, "body must be a JSON object"));
        auto duration = [&](const char* key) -> std::optional<std::chrono::milliseconds> {
            if (!opts.contains(key)) return std::nullopt;
            const double s = opts[key].get<double>();
            if (!(s >= 0 && s <= 86400)) throw std::invalid_argument(std::string(key) + " must be within [0, 86400] s");
            return std::chrono::milliseconds(static_cast<long>(s * 1000));
        };
        if (auto t = duration(field::timeout)) options.timeout = *t;
        options.drain_timeout = duration(field::drain_timeout);
    } catch (const std::exception& e) {
        return reply(error_response(400, std::string("bad request: ") + e.what()));
    }
    if (options.timeout.count() <= 0) return reply(error_response(400, "timeout must be within (0, 86400] s"));
    std::string error;
    auto runners = sup_.resolve(spec, error);
    if (runners.empty()) return reply(error_response(404, error));
    std::vector<std::string> names;
    for (ProcessRunner* r : runners) {
        if (sup_.set().rolling(r->name()))
            return reply(error_response(409, r->name() + " is already in a rolling restart"));
        names.push_back(r->name());
    }
    ApiResponse r;
    r.content_type = "application/x-ndjson";
    r.stream = ApiResponse::Stream::feed;
    r.feed = std::make_shared<ProgressFeed>();
    auto job = std::make_shared<RollingRestart>(sup_, spec, r.feed);
    reply(std::move(r));
    job->start(names, options);
}

ApiResponse ControlApi::config_reread() {
    auto loaded = reload_();
    if (!loaded.ok())
        return json_response(422, json{{field::error, "configuration has errors; nothing changed"},
                                       {field::errors, errors_json(loaded.errors)}});
    return json_response(200, diff_json(sup_.plan(*loaded.config)));
}

ApiResponse ControlApi::config_update(const std::string& body) {
    const json opts = json::parse(body.empty() ? "{}" : body);
    if (!opts.is_object()) return error_response(400, "body must be a JSON object");
    std::vector<std::string> only;
    if (opts.contains(field::names)) only = opts[field::names].get<std::vector<std::string>>();
    auto loaded = reload_();
    if (!loaded.ok())
        return json_response(422, json{{field::error, "configuration has errors; nothing changed"},
                                       {field::errors, errors_json(loaded.errors)}});
    for (const auto& n : only) {
        std::string err;
        const bool known_now = !sup_.resolve(n, err).empty();
        const bool known_next = std::any_of(loaded.config->programs.begin(), loaded.config->programs.end(),
                                            [&](const config::Program& p) {
                                                return p.name == n || p.program == n || p.group == n;
                                            });
        if (!known_now && !known_next) return error_response(404, "no such process or group: " + n);
    }
    const auto d = sup_.update(std::move(*loaded.config), only);
    if (proxy_) proxy_->reconfigure();
    return json_response(200, diff_json(d));
}

}  // namespace vigil::supervisor
