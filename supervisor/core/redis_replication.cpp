#include "supervisor/core/redis_replication.hpp"

#include <algorithm>
#include <charconv>
#include <string>

namespace vigil::core::redis {
namespace {

std::int64_t number(const Info& info, const std::string& key, std::int64_t otherwise = -1) {
    auto it = info.find(key);
    if (it == info.end()) return otherwise;
    std::int64_t v = 0;
    const auto* end = it->second.data() + it->second.size();
    auto [p, ec] = std::from_chars(it->second.data(), end, v);
    return ec == std::errc() && p == end ? v : otherwise;
}

std::string field(const Info& info, const std::string& key) {
    auto it = info.find(key);
    return it == info.end() ? std::string() : it->second;
}

// "ip=127.0.0.1,port=6380,state=online,offset=10,lag=0" → its fields.
Info fields(std::string_view text) {
    Info out;
    while (!text.empty()) {
        const auto comma = text.find(',');
        const auto item = text.substr(0, comma);
        const auto eq = item.find('=');
        if (eq != std::string_view::npos) out[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

bool wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

}  // namespace

std::string command(const std::vector<std::string>& argv) {
    std::string out = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

std::optional<Reply> parse_reply(std::string_view buf, std::size_t& used, std::string& bad) {
    auto v = resp::parse(buf, used, bad, kLimits);
    if (!v) return std::nullopt;
    Reply r;
    switch (v->type) {
        case resp::Value::Type::simple:
        case resp::Value::Type::bulk: r.text = std::move(v->str); break;
        case resp::Value::Type::error:
            r.error = true;
            r.text = std::move(v->str);
            break;
        case resp::Value::Type::integer: r.text = std::to_string(v->integer); break;
        case resp::Value::Type::nil: break;
        case resp::Value::Type::array:
            bad = "an array reply (INFO and REPLICAOF answer none)";
            return std::nullopt;
    }
    return r;
}

Info parse_info(std::string_view text) {
    Info out;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const auto colon = line.find(':');
        if (!line.empty() && line[0] != '#' && colon != std::string_view::npos)
            out[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 1));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return out;
}

ReplicaLag replica_lag(const Info& master, const Info& replica, const std::string& host, int port, int master_port) {
    ReplicaLag lag;
    if (field(master, "role") != "master") return lag;
    // Each replica is a slaveN line of the same INFO: never more of them
    // than lines, whatever connected_slaves claims (fuzzing found a claimed
    // 190,000,000 spinning the poll thread).
    const std::int64_t slaves =
        std::min<std::int64_t>(number(master, "connected_slaves", 0), static_cast<std::int64_t>(master.size()));
    Info line;
    for (std::int64_t i = 0; i < slaves; ++i) {
        Info f = fields(field(master, "slave" + std::to_string(i)));
        if (number(f, "port") == port && (wildcard(host) || f["ip"] == host)) {
            line = std::move(f);
            break;
        }
    }
    if (line.empty() || line["state"] != "online") return lag;
    if (field(replica, "role") != "slave" || field(replica, "master_link_status") != "up" ||
        number(replica, "master_port") != master_port ||
        field(replica, "master_replid") != field(master, "master_replid"))
        return lag;
    const std::int64_t ours = number(master, "master_repl_offset");
    const std::int64_t theirs = number(replica, "slave_repl_offset");
    if (ours < 0 || theirs < 0) return lag;
    lag.streaming = true;
    lag.bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, ours - theirs));
    lag.seconds = Duration(std::max<std::int64_t>(0, number(line, "lag", 0)) * 1000);
    lag.full_syncs = static_cast<std::uint64_t>(std::max<std::int64_t>(0, number(master, "sync_full", 0)));
    return lag;
}

bool drained(const Info& replica, std::string& why) {
    if (field(replica, "role") != "slave") {
        why = "it is not a replica (role " + field(replica, "role") + ")";
        return false;
    }
    if (field(replica, "master_link_status") == "up") {
        why = "its link to the old master is still up";
        return false;
    }
    const std::int64_t read = number(replica, "slave_read_repl_offset");
    const std::int64_t applied = number(replica, "slave_repl_offset");
    if (read < 0 || applied < 0 || applied < read) {
        why = "applied offset " + std::to_string(applied) + " of " + std::to_string(read) + " received";
        return false;
    }
    return true;
}

}  // namespace vigil::core::redis
