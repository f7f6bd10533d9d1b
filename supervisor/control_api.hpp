// vigild's control API without its transport: a request (method, target,
// body) in, a JSON reply out — now, or later for requests that wait for
// programs to reach a state. The HTTP server (control_server) and the fuzz
// target both drive this class, so every route and every bad input is
// handled in one place.
//
// Routes (all JSON unless noted):
//   GET  /v1/programs[?fields=a,b]         every process, in start order
//   GET  /v1/programs/{name}               one process
//   POST /v1/programs/{spec}/{start|stop|restart}   spec: name, group, G:*, all
//        body {"wait": true, "timeout": 30}  (wait defaults to true)
//   POST /v1/programs/{spec}/signal        body {"signal": "HUP"}
//   POST /v1/programs/{spec}/wait          body {"goal": "running|healthy|stopped",
//        "timeout": 60}: answers when every process got there (wait_api.cpp)
//   GET  /v1/programs/{name}/health        last check results
//   GET  /v1/programs/{name}/log?stream=stdout|stderr&offset=N&follow=1
//        text/plain; a negative offset counts from the end; follow streams
//   POST /v1/config/reread                 the plan for the file on disk
//   POST /v1/config/update                 body {"names": [...]} (optional)
//   POST /v1/reload                        reread + update everything
//   GET  /v1/events                        one JSON object per line, streamed
//   GET  /v1/upstreams                     vigil-proxy's pools, servers and counters
//   POST /v1/programs/{spec}/rolling-restart   one instance at a time: drained
//        out of the proxy, restarted, healthy, back in; body {"timeout": 60,
//        "drain_timeout": 10} (optional); ndjson progress, streamed
//   GET  /v1/version, POST /v1/shutdown
//   POST /v1/reexec                        vigild re-executes its binary in place
//        (reexec.hpp): 202 {"reexecs": N} once checked, then the exec; 409
//        with the reason when the state cannot be carried over. GET
//        /v1/version tells "reexecs" (N+1 once the new image answers),
//        "reexec_failures" and "reexec_error".
//   GET  /metrics                          Prometheus text format
//   POST /RPC2                             supervisord's XML-RPC (xmlrpc/interface.hpp)
//   GET  /logtail/{name}[/stdout|stderr]   supervisorctl's tail -f: the log's
//        last 1 KiB, then what the process writes, streamed
//   GET  /, /ui/app.js, /ui/app.css        the web status page (web/web_page.hpp)
//   GET  /v1/events/recent                 the last events, a JSON array
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/version.hpp"
#include "config/loader.hpp"
#include "supervisor/access.hpp"
#include "supervisor/supervisor.hpp"

namespace vigil::supervisor {

namespace xmlrpc {
class Interface;
}
namespace web {
class WebPage;
}
class Reexecutor;

struct ApiRequest {
    std::string method;
    std::string target;  // path and query
    std::string body;
    Access access = Access::full();  // what the caller may do (the server has refused what it may not)
    // What a browser says about where a request comes from, for the CSRF
    // rule (web/web_page.hpp); vigilctl and supervisorctl send none of them.
    std::optional<std::string> origin;  // Origin (set even when empty or "null")
    std::string fetch_site;             // Sec-Fetch-Site
    std::string token;                  // X-Vigil-Token
};

// The progress of a long operation (a rolling restart) for one streamed
// reply: lines pushed before a reader attaches are kept and replayed; after
// finish() the stream ends. The operation does not depend on the reader: a
// client that goes away does not stop it halfway.
class ProgressFeed {
public:
    using Sink = std::function<void(std::string line)>;
    using End = std::function<void()>;

    void push(std::string line);
    void finish();
    void attach(Sink sink, End end);

private:
    std::vector<std::string> backlog_;
    Sink sink_;
    End end_;
    bool finished_ = false;
};

struct ApiResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::string log_offset;  // X-Log-Offset for log reads
    bool www_authenticate = false;  // a 401 that asks for basic auth
    std::vector<std::pair<std::string, std::string>> headers;  // more header fields (the web page's)

    // A streamed reply: after `body`, the server keeps the connection and
    // writes what the stream produces.
    enum class Stream { none, events, log, feed } stream = Stream::none;
    std::string stream_process;  // for Stream::log
    int stream_fd = 1;           // 1 stdout, 2 stderr
    std::shared_ptr<ProgressFeed> feed;  // for Stream::feed; the stream ends with it
    // Runs once the reply has been written (or the write failed): what must
    // come after the client has its answer (the re-exec).
    std::function<void()> after_write;
};

class ReplicationManager;

class ControlApi {
public:
    using Reply = std::function<void(ApiResponse)>;
    using Reloader = std::function<config::LoadResult()>;

    ControlApi(boost::asio::io_context& io, Supervisor& sup, Reloader reload, std::function<void()> shutdown);

    // Where `upstreams` and the proxy's metrics come from (may stay unset).
    void set_proxy(class ProxyLink* proxy) { proxy_ = proxy; }
    // POST /v1/reopen: reopens vigild's log files; returns how many.
    void set_reopener(std::function<int()> reopen) { reopen_ = std::move(reopen); }
    // Where POST /RPC2 and GET /logtail go (unset: 404).
    void set_xmlrpc(xmlrpc::Interface* rpc) { xmlrpc_ = rpc; }
    // The status page at / and its CSRF rule for every request (unset: no page).
    void set_web(web::WebPage* page) { web_ = page; }
    // replica_of pairs: switchover and failover.
    void set_replication(ReplicationManager* m) { replication_ = m; }
    // Who carries out POST /v1/reexec (unset: 404).
    void set_reexec(Reexecutor* r) { reexec_ = r; }

    // Calls `reply` exactly once, possibly later (waiting requests).
    void handle(const ApiRequest& req, Reply reply);

    static constexpr const char* kVersion = vigil::kVersion;  // common/version.hpp.in

private:
    ApiResponse programs_list(const std::string& fields, bool with_output) const;
    ApiResponse program_one(const std::string& name, bool with_output) const;
    void program_action(const std::string& spec, const std::string& action, const std::string& body, Reply reply);
    ApiResponse program_signal(const std::string& spec, const std::string& body);
    ApiResponse program_promote(const std::string& name, const std::string& action, const std::string& body);
    void program_wait(const std::string& spec, const std::string& body, Reply reply);  // wait_api.cpp
    ApiResponse program_log(const std::string& name, const std::string& query) const;
    ApiResponse program_health(const std::string& name) const;
    ApiResponse config_reread();
    ApiResponse config_update(const std::string& body);
    void rolling_restart(const std::string& spec, const std::string& body, Reply reply);

    boost::asio::io_context& io_;
    Supervisor& sup_;
    Reloader reload_;
    std::function<void()> shutdown_;
    class ProxyLink* proxy_ = nullptr;
    std::function<int()> reopen_;
    xmlrpc::Interface* xmlrpc_ = nullptr;
    web::WebPage* web_ = nullptr;
    ReplicationManager* replication_ = nullptr;
    Reexecutor* reexec_ = nullptr;
    ApiResponse reexec();
    bool supervisord_route(const ApiRequest& req, const std::string& path, Reply& reply);  // xmlrpc/routes.cpp
};

ApiResponse error_response(int status, const std::string& message);
// Lines of the events stream, newline-terminated JSON: a state change
// ("type": "state") or a health change ("type": "health").
std::string event_line(const ProcessRunner& r, const core::Decision& d);
std::string health_event_line(const ProcessRunner& r, core::HealthStatus from, core::HealthStatus to,
                              const std::string& detail);
// Supervisor::note(): {"type": topic, "time", "name", "text", "warning"}.
std::string note_event_line(const std::string& name, const std::string& topic, const std::string& text, bool warning);

}  // namespace vigil::supervisor
