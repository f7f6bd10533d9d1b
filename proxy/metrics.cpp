#include "proxy/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace vigil::proxy {
namespace {

constexpr const char* class_label[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

// Label values come from config and admin input: escape per the text format.
std::string esc(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') { out += "\\n"; continue; }
        out += c;
    }
    return out;
}

void line(std::string& out, const char* name, const std::string& labels, std::uint64_t v) {
    out += name;
    out += '{';
    out += labels;
    out += "} ";
    out += std::to_string(v);
    out += '\n';
}

// mode = tcp listeners and the pools they route to: bytes and connections
// instead of requests. Only those pools, so an HTTP-only proxy's page does
// not grow.
void render_tcp(std::string& out, const Snapshot& snap, const std::vector<std::unique_ptr<ListenerStats>>& listeners) {
    std::vector<const Pool*> pools;
    for (std::size_t i = 0; i < listeners.size() && i < snap.routes.size(); ++i) {
        if (!listeners[i]->tcp) continue;
        for (const auto& e : snap.routes[i].entries())
            if (e.pool_index >= 0) {
                const Pool* p = &snap.pools[static_cast<std::size_t>(e.pool_index)];
                if (std::find(pools.begin(), pools.end(), p) == pools.end()) pools.push_back(p);
            }
    }
    if (pools.empty()) return;
    auto per_server = [&](const char* name, const char* help, const char* type, auto value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        for (const Pool* p : pools)
            for (const ServerEntry& s : p->servers) value("pool=\"" + esc(p->name) + "\",server=\"" + esc(s.name) + "\"", *s.stats);
    };
    per_server("vigil_proxy_tcp_connections_total", "TCP connections relayed to the server.", "counter",
               [&](const std::string& l, const ServerStats& s) {
                   line(out, "vigil_proxy_tcp_connections_total", l, s.total(&ServerCounters::tcp_connections));
               });
    per_server("vigil_proxy_tcp_bytes_total", "Bytes relayed: sent = client to server, received = server to client.",
               "counter", [&](const std::string& l, const ServerStats& s) {
                   line(out, "vigil_proxy_tcp_bytes_total", l + ",direction=\"sent\"", s.total(&ServerCounters::tcp_bytes_sent));
                   line(out, "vigil_proxy_tcp_bytes_total", l + ",direction=\"received\"",
                        s.total(&ServerCounters::tcp_bytes_received));
               });
    per_server("vigil_proxy_tcp_connection_seconds", "Lifetime of closed relayed connections.", "summary",
               [&](const std::string& l, const ServerStats& s) {
                   char sum[48];
                   std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(s.total(&ServerCounters::tcp_seconds_us)) / 1e6);
                   out += "vigil_proxy_tcp_connection_seconds_sum{" + l + "} " + sum + "\n";
                   line(out, "vigil_proxy_tcp_connection_seconds_count", l, s.total(&ServerCounters::tcp_closed));
               });
    per_server("vigil_proxy_tcp_cut_total", "Relayed connections closed because the server was set down.", "counter",
               [&](const std::string& l, const ServerStats& s) {
                   line(out, "vigil_proxy_tcp_cut_total", l, s.tcp_cut.load(std::memory_order_relaxed));
               });
    out += "# HELP vigil_proxy_tcp_unserved_total TCP connections closed with no usable server within connect_timeout.\n"
           "# TYPE vigil_proxy_tcp_unserved_total counter\n";
    for (const Pool* p : pools)
        line(out, "vigil_proxy_tcp_unserved_total", "pool=\"" + esc(p->name) + "\"",
             p->counters->tcp_unserved.load(std::memory_order_relaxed));
    out += "# HELP vigil_proxy_listener_bytes_total Bytes a mode = tcp listener relayed: in = from clients, out = to clients.\n"
           "# TYPE vigil_proxy_listener_bytes_total counter\n";
    for (const auto& l : listeners) {
        if (!l->tcp) continue;
        line(out, "vigil_proxy_listener_bytes_total", "listener=\"" + esc(l->name) + "\",direction=\"in\"", l->bytes(true));
        line(out, "vigil_proxy_listener_bytes_total", "listener=\"" + esc(l->name) + "\",direction=\"out\"", l->bytes(false));
    }
}

}  // namespace

std::string render_metrics(const Snapshot& snap, const std::vector<std::unique_ptr<ListenerStats>>& listeners) {
    std::string out;
    out.reserve(4096);

    out += "# HELP vigil_proxy_requests_total Requests by pool, server and status class (server=\"\": answered by the proxy).\n"
           "# TYPE vigil_proxy_requests_total counter\n";
    for (const Pool& p : snap.pools) {
        const std::string pl = "pool=\"" + esc(p.name) + "\"";
        for (const ServerEntry& s : p.servers)
            for (int c = 1; c < 6; ++c)
                line(out, "vigil_proxy_requests_total",
                     pl + ",server=\"" + esc(s.name) + "\",class=\"" + class_label[c] + "\"",
                     s.stats->responses(c));
        for (int c = 1; c < 6; ++c)
            line(out, "vigil_proxy_requests_total", pl + ",server=\"\",class=\"" + class_label[c] + "\"",
                 p.counters->unserved[c].load(std::memory_order_relaxed));
    }

    out += "# HELP vigil_proxy_upstream_latency_seconds Time from sending the request to the response head.\n"
           "# TYPE vigil_proxy_upstream_latency_seconds histogram\n";
    for (const Pool& p : snap.pools)
        for (const ServerEntry& s : p.servers) {
            const std::string l = "pool=\"" + esc(p.name) + "\",server=\"" + esc(s.name) + "\"";
            std::uint64_t cum = 0;
            char le[32];
            for (std::size_t b = 0; b < latency_bounds.size(); ++b) {
                cum += s.stats->latency_bucket(b);
                std::snprintf(le, sizeof le, "%g", latency_bounds[b]);
                line(out, "vigil_proxy_upstream_latency_seconds_bucket", l + ",le=\"" + le + "\"", cum);
            }
            cum += s.stats->latency_bucket(latency_bounds.size());
            line(out, "vigil_proxy_upstream_latency_seconds_bucket", l + ",le=\"+Inf\"", cum);
            char sum[48];
            std::snprintf(sum, sizeof sum, "%.6f", s.stats->latency_sum_us() / 1e6);
            out += "vigil_proxy_upstream_latency_seconds_sum{" + l + "} " + sum + "\n";
            line(out, "vigil_proxy_upstream_latency_seconds_count", l, s.stats->latency_count());
        }

    out += "# HELP vigil_proxy_retries_total Requests retried on another server after a connect/reset failure.\n"
           "# TYPE vigil_proxy_retries_total counter\n";
    for (const Pool& p : snap.pools)
        line(out, "vigil_proxy_retries_total", "pool=\"" + esc(p.name) + "\"", p.counters->retries.load(std::memory_order_relaxed));

    out += "# HELP vigil_proxy_ejections_total Passive-health ejections (max_fails within fail_timeout, eject_on_5xx).\n"
           "# TYPE vigil_proxy_ejections_total counter\n";
    for (const Pool& p : snap.pools)
        for (const ServerEntry& s : p.servers)
            line(out, "vigil_proxy_ejections_total", "pool=\"" + esc(p.name) + "\",server=\"" + esc(s.name) + "\"",
                 s.stats->ejections.load(std::memory_order_relaxed));

    out += "# HELP vigil_proxy_ejected_seconds Time left of the server's current passive ejection; 0 when in service.\n"
           "# TYPE vigil_proxy_ejected_seconds gauge\n";
    const std::int64_t now_ns = Clock::now().time_since_epoch().count();
    for (const Pool& p : snap.pools)
        for (const ServerEntry& s : p.servers) {
            const std::int64_t left = s.stats->ejected_until.load(std::memory_order_relaxed) - now_ns;
            char v[32];
            std::snprintf(v, sizeof v, "%.3f", left > 0 ? static_cast<double>(left) / 1e9 : 0.0);
            out += "vigil_proxy_ejected_seconds{pool=\"" + esc(p.name) + "\",server=\"" + esc(s.name) + "\"} " + v + "\n";
        }

    out += "# HELP vigil_proxy_upstream_failures_total Failed attempts (refused, reset, timeout, bad response).\n"
           "# TYPE vigil_proxy_upstream_failures_total counter\n";
    for (const Pool& p : snap.pools)
        for (const ServerEntry& s : p.servers)
            line(out, "vigil_proxy_upstream_failures_total", "pool=\"" + esc(p.name) + "\",server=\"" + esc(s.name) + "\"",
                 s.stats->failures.load(std::memory_order_relaxed));

    out += "# HELP vigil_proxy_active_requests Requests in flight per server.\n"
           "# TYPE vigil_proxy_active_requests gauge\n";
    for (const Pool& p : snap.pools)
        for (const ServerEntry& s : p.servers)
            line(out, "vigil_proxy_active_requests", "pool=\"" + esc(p.name) + "\",server=\"" + esc(s.name) + "\"",
                 static_cast<std::uint64_t>(std::max(0, s.stats->active.load(std::memory_order_relaxed))));

    out += "# HELP vigil_proxy_server_state 1 for the server's current admin state.\n"
           "# TYPE vigil_proxy_server_state gauge\n";
    for (const Pool& p : snap.pools)
        for (const ServerEntry& s : p.servers)
            for (ServerMode m : {ServerMode::up, ServerMode::draining, ServerMode::down})
                line(out, "vigil_proxy_server_state",
                     "pool=\"" + esc(p.name) + "\",server=\"" + esc(s.name) + "\",state=\"" + to_string(m) + "\"",
                     s.mode == m ? 1 : 0);

    out += "# HELP vigil_proxy_listener_responses_total Responses sent to clients by listener and status class.\n"
           "# TYPE vigil_proxy_listener_responses_total counter\n";
    for (const auto& l : listeners)
        for (int c = 1; c < 6; ++c)
            line(out, "vigil_proxy_listener_responses_total", "listener=\"" + esc(l->name) + "\",class=\"" + class_label[c] + "\"",
                 l->responses(c));
    out += "# HELP vigil_proxy_rate_limited_total Requests answered 429 by the listener's rate limit.\n"
           "# TYPE vigil_proxy_rate_limited_total counter\n";
    for (const auto& l : listeners)
        line(out, "vigil_proxy_rate_limited_total", "listener=\"" + esc(l->name) + "\"", l->rate_limited.load(std::memory_order_relaxed));
    out += "# HELP vigil_proxy_rejected_requests_total Malformed or oversized requests the proxy answered itself (400, 408, 413, 417, 431).\n"
           "# TYPE vigil_proxy_rejected_requests_total counter\n";
    for (const auto& l : listeners)
        line(out, "vigil_proxy_rejected_requests_total", "listener=\"" + esc(l->name) + "\"", l->rejected.load(std::memory_order_relaxed));
    out += "# HELP vigil_proxy_connections_total Client connections accepted by the listener.\n"
           "# TYPE vigil_proxy_connections_total counter\n";
    for (const auto& l : listeners)
        line(out, "vigil_proxy_connections_total", "listener=\"" + esc(l->name) + "\"", l->connections_total.load(std::memory_order_relaxed));
    out += "# HELP vigil_proxy_connections_active Client connections open now.\n"
           "# TYPE vigil_proxy_connections_active gauge\n";
    for (const auto& l : listeners)
        line(out, "vigil_proxy_connections_active", "listener=\"" + esc(l->name) + "\"",
             static_cast<std::uint64_t>(std::max<std::int64_t>(0, l->connections_active.load(std::memory_order_relaxed))));
    render_tcp(out, snap, listeners);
    out += "# HELP vigil_proxy_tls_handshake_failures_total TLS handshakes with clients that failed.\n"
           "# TYPE vigil_proxy_tls_handshake_failures_total counter\n";
    for (const auto& l : listeners)
        line(out, "vigil_proxy_tls_handshake_failures_total", "listener=\"" + esc(l->name) + "\"",
             l->tls_handshake_failures.load(std::memory_order_relaxed));
    return out;
}

}  // namespace vigil::proxy
