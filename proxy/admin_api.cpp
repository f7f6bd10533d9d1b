#include "proxy/admin_api.hpp"
#include "proxy/admin_protocol.hpp"
#include "proxy/path.hpp"

#include <nlohmann/json.hpp>

#include <vector>

namespace vigil::proxy {
namespace {

using json = nlohmann::json;
namespace field = admin::field;  // the JSON names vigild uses too (proxy/admin_protocol.hpp)

AdminReply error(int status, std::string message) {
    return {status, json{{"error", std::move(message)}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}

AdminReply from_status(const Registry::Status& st, bool changed) {
    if (!st.ok()) return error(st.http, st.message);
    return {st.http, json{{"ok", true}, {"message", st.message}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json", changed};
}

// What is left of the server's current ejection, in ms; 0 when not ejected.
long long ejected_ms(const ServerStats& s, TimePoint now) {
    const std::int64_t left = s.ejected_until.load(std::memory_order_relaxed) - now.time_since_epoch().count();
    return left > 0 ? (left + 999'999) / 1'000'000 : 0;
}

json server_json(const ServerEntry& s, TimePoint now) {
    return {{field::name, s.name},
            {field::address, s.address},
            {field::state, to_string(s.mode)},
            {field::held, s.held},
            {field::ejected, s.stats->ejected(now)},
            {field::ejected_ms, ejected_ms(*s.stats, now)},
            {field::active, s.stats->active.load(std::memory_order_relaxed)},
            {field::fails, s.stats->fails.load(std::memory_order_relaxed)},
            {field::failures_total, s.stats->failures.load(std::memory_order_relaxed)},
            {field::ejections_total, s.stats->ejections.load(std::memory_order_relaxed)}};
}

json pool_json(const Pool& p, TimePoint now) {
    json servers = json::array();
    for (const ServerEntry& s : p.servers) servers.push_back(server_json(s, now));
    return {{field::name, p.name},
            {field::balance, to_string(p.balance)},
            {field::max_fails, p.max_fails},
            {field::fail_timeout_ms, p.fail_timeout.count()},
            {field::slow_start_ms, p.slow_start.count()},
            {field::max_ejection_percent, p.max_ejection_percent},
            {field::max_ejection_time_ms, p.max_ejection_time.count()},
            {field::eject_on_5xx, p.eject_on_5xx},
            {field::role, p.role ? json(*p.role == config::Role::primary ? "primary" : "replica") : json()},
            {field::servers, std::move(servers)}};
}

// Percent-decoding of one path segment (names may hold ':' as %3A); a
// malformed escape stays as it is (the name then matches nothing).
std::string decode(std::string_view s) { return percent_decode(s); }

std::vector<std::string> segments(std::string_view target) {
    target = target.substr(0, target.find('?'));
    std::vector<std::string> out;
    while (!target.empty()) {
        if (target.front() == '/') { target.remove_prefix(1); continue; }
        auto slash = target.find('/');
        out.push_back(decode(target.substr(0, slash)));
        if (slash == std::string_view::npos) break;
        target.remove_prefix(slash);
    }
    return out;
}

bool parse_body(std::string_view body, json& out, AdminReply& err) {
    out = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
    if (out.is_discarded() || !out.is_object()) {
        err = error(400, "body must be a JSON object");
        return false;
    }
    return true;
}

AdminReply put_pool(Registry& reg, const std::string& name, std::string_view body) {
    json j;
    AdminReply err;
    if (!parse_body(body, j, err)) return err;
    PoolSpec spec;
    spec.name = name;
    if (j.contains(field::balance)) {
        if (j[field::balance] == admin::balance::least_conn) spec.balance = config::Balance::least_conn;
        else if (j[field::balance] == admin::balance::round_robin) spec.balance = config::Balance::round_robin;
        else return error(400, "balance must be least_conn or round_robin");
    }
    if (j.contains(field::max_fails)) {
        // The config's range; get<int>() would silently truncate a larger value.
        if (!j[field::max_fails].is_number_integer()) return error(400, "max_fails must be an integer");
        const long long n = j[field::max_fails].get<long long>();
        if (j[field::max_fails].is_number_unsigned() && j[field::max_fails].get<unsigned long long>() > 1000000)
            return error(400, "max_fails must be within [0, 1000000]");
        if (n < 0 || n > 1'000'000) return error(400, "max_fails must be within [0, 1000000]");
        spec.max_fails = static_cast<int>(n);
    }
    if (j.contains(field::fail_timeout_ms)) {
        if (!j[field::fail_timeout_ms].is_number_integer()) return error(400, "fail_timeout_ms must be an integer");
        const long long ms = j[field::fail_timeout_ms].get<long long>();
        // Capped at a day: larger values overflow the nanosecond clock math.
        if (ms < 0 || ms > 86'400'000) return error(400, "fail_timeout_ms must be within [0, 86400000]");
        spec.fail_timeout = std::chrono::milliseconds(ms);
    }
    if (j.contains(field::slow_start_ms)) {
        if (!j[field::slow_start_ms].is_number_integer()) return error(400, "slow_start_ms must be an integer");
        const long long ms = j[field::slow_start_ms].get<long long>();
        if (ms < 0 || ms > 86'400'000) return error(400, "slow_start_ms must be within [0, 86400000]");
        spec.slow_start = std::chrono::milliseconds(ms);
    }
    // Outlier ejection settings: integers within bounds, else 400.
    auto bounded = [&](const char* key, long long lo, long long hi, std::optional<long long>& out) -> bool {
        if (!j.contains(key)) return true;
        const json& v = j[key];
        if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<unsigned long long>() > static_cast<unsigned long long>(hi)))
            return false;
        const long long n = v.get<long long>();
        if (n < lo || n > hi) return false;
        out = n;
        return true;
    };
    std::optional<long long> pct, max_time, on_5xx;
    if (!bounded(field::max_ejection_percent, 0, 100, pct))
        return error(400, "max_ejection_percent must be an integer within [0, 100]");
    if (!bounded(field::max_ejection_time_ms, 1, 86'400'000, max_time))
        return error(400, "max_ejection_time_ms must be an integer within [1, 86400000]");
    if (!bounded(field::eject_on_5xx, 0, 1'000'000, on_5xx))
        return error(400, "eject_on_5xx must be an integer within [0, 1000000]");
    if (pct) spec.max_ejection_percent = static_cast<int>(*pct);
    if (max_time) spec.max_ejection_time = std::chrono::milliseconds(*max_time);
    if (on_5xx) spec.eject_on_5xx = static_cast<int>(*on_5xx);
    if (j.contains(field::servers)) {
        if (!j[field::servers].is_array()) return error(400, "servers must be an array");
        for (const json& s : j[field::servers]) {
            if (!s.is_object() || !s.contains(field::name) || !s.contains(field::address) || !s[field::name].is_string() ||
                !s[field::address].is_string())
                return error(400, "each server needs a string name and address");
            spec.servers.emplace_back(s[field::name].get<std::string>(), s[field::address].get<std::string>());
            std::optional<ServerMode> mode;
            if (s.contains(field::state) &&
                (!s[field::state].is_string() || !(mode = parse_mode(s[field::state].get<std::string>()))))
                return error(400, "a server's state must be up, down or draining");
            spec.modes.push_back(mode);
        }
    }
    return from_status(reg.put_pool(spec), true);
}

}  // namespace

AdminReply handle_admin(Registry& reg, std::string_view method, std::string_view target, std::string_view body,
                        const std::function<std::string()>& render_metrics) {
    const auto seg = segments(target);
    const auto now = Clock::now();
    const auto snap = reg.snapshot();

    if (seg.size() == 1 && seg[0] == "metrics") {
        if (method != "GET") return error(405, "use GET");
        return {200, render_metrics(), "text/plain; version=0.0.4"};
    }
    if (seg.empty() || seg[0] != "v1") return error(404, "no such endpoint");
    if (seg.size() == 2 && seg[1] == "health") {
        return {200, json{{"status", "ok"}, {field::version, snap->version}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
    }
    if (seg.size() < 2 || seg[1] != "pools") return error(404, "no such endpoint");

    if (seg.size() == 2) {
        if (method != "GET") return error(405, "use GET");
        json pools = json::array();
        for (const Pool& p : snap->pools) pools.push_back(pool_json(p, now));
        return {200, json{{field::version, snap->version}, {field::pools, std::move(pools)}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
    }
    const std::string& pool = seg[2];
    if (seg.size() == 3) {
        if (method == "GET") {
            const Pool* p = snap->find_pool(pool);
            if (!p) return error(404, "no pool '" + pool + "'");
            return {200, pool_json(*p, now).dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
        }
        if (method == "PUT") return put_pool(reg, pool, body);
        if (method == "DELETE") return from_status(reg.remove_pool(pool), true);
        return error(405, "use GET, PUT or DELETE");
    }
    if (seg[3] != "servers" || seg.size() < 5 || seg.size() > 6) return error(404, "no such endpoint");
    const std::string& server = seg[4];

    if (seg.size() == 6) {
        if (seg[5] != "state") return error(404, "no such endpoint");
        if (method != "POST" && method != "PUT") return error(405, "use POST");
        json j;
        AdminReply err;
        if (!parse_body(body, j, err)) return err;
        if (!j.contains(field::state) || !j[field::state].is_string()) return error(400, "body needs \"state\"");
        auto mode = parse_mode(j[field::state].get<std::string>());
        if (!mode) return error(400, "state must be up, down or draining");
        auto st = reg.set_mode(pool, server, *mode);
        return from_status(st, st.ok() && st.message.empty());
    }
    if (method == "GET") {
        const Pool* p = snap->find_pool(pool);
        if (!p) return error(404, "no pool '" + pool + "'");
        for (const ServerEntry& s : p->servers)
            if (s.name == server) return {200, server_json(s, now).dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
        return error(404, "no server '" + server + "' in pool '" + pool + "'");
    }
    if (method == "PUT") {
        json j;
        AdminReply err;
        if (!parse_body(body, j, err)) return err;
        if (!j.contains(field::address) || !j[field::address].is_string()) return error(400, "body needs \"address\"");
        std::optional<ServerMode> mode;
        if (j.contains(field::state)) {
            if (!j[field::state].is_string() || !(mode = parse_mode(j[field::state].get<std::string>())))
                return error(400, "state must be up, down or draining");
        }
        auto st = reg.put_server(pool, server, j[field::address].get<std::string>(), mode);
        return from_status(st, st.ok() && st.message.rfind("unchanged", 0) != 0);
    }
    if (method == "DELETE") return from_status(reg.remove_server(pool, server), true);
    return error(405, "use GET, PUT or DELETE");
}

}  // namespace vigil::proxy
