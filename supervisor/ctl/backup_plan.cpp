#include "supervisor/ctl/backup_plan.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace vigil::ctl::backup {
namespace {

using json = nlohmann::json;

std::string utc(std::time_t t, const char* fmt) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, fmt, &tm);
    return buf;
}

bool safe_file_name(const std::string& s) {
    return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos && s.find('\0') == std::string::npos;
}

}  // namespace

std::string to_json(const Manifest& m) {
    json j{{"format", m.format},         {"program", m.program},         {"kind", m.kind},
           {"time", m.time},             {"server_version", m.server_version}, {"method", m.method},
           {"bytes", m.bytes},           {"duration_ms", m.duration_ms}};
    if (m.kind == "redis") {
        j["rdb_file"] = m.rdb_file;
        j["aof_dir"] = m.aof_dir;
        j["aof_file"] = m.aof_file;
        j["keys"] = m.keys;
    }
    if (!m.pair.empty()) {
        j["pair"] = m.pair;
        j["source"] = m.source;
    }
    if (m.kind == "postgres") {
        j["db_user"] = m.db_user;
        j["db_name"] = m.db_name;
    }
    return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<Manifest> parse_manifest(std::string_view text, std::string& error) {
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) {
        error = "the manifest is not a JSON object";
        return std::nullopt;
    }
    auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
    auto num = [&](const char* k, std::int64_t d) {
        return j.contains(k) && j[k].is_number_integer() ? j[k].get<std::int64_t>() : d;
    };
    Manifest m;
    m.format = str("format");
    if (m.format != kFormat) {
        error = "unknown manifest format '" + m.format + "' (expected " + std::string(kFormat) + ")";
        return std::nullopt;
    }
    m.program = str("program");
    m.kind = str("kind");
    m.time = str("time");
    m.server_version = str("server_version");
    m.method = str("method");
    m.rdb_file = str("rdb_file");
    m.aof_dir = str("aof_dir");
    m.aof_file = str("aof_file");
    m.db_user = str("db_user");
    m.db_name = str("db_name");
    m.pair = str("pair");
    m.source = str("source");
    m.bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, num("bytes", 0)));
    m.keys = num("keys", -1);
    m.duration_ms = num("duration_ms", 0);
    if (m.kind != "postgres" && m.kind != "redis") {
        error = "the manifest names no known kind ('" + m.kind + "')";
        return std::nullopt;
    }
    if (m.kind == "redis" && !safe_file_name(m.rdb_file)) {
        error = "the manifest's rdb_file must be a plain file name";
        return std::nullopt;
    }
    if ((!m.aof_dir.empty() || !m.aof_file.empty()) && !(safe_file_name(m.aof_dir) && safe_file_name(m.aof_file))) {
        error = "the manifest's aof_dir and aof_file must be plain file names";
        return std::nullopt;
    }
    return m;
}

std::string restore_refusal(const Manifest& m, const std::string& kind, const std::string& name, bool force,
                            const std::string& pair) {
    if (kind != "postgres" && kind != "redis") return "restore works with kind = postgres or kind = redis only";
    if (m.kind != kind)
        return "it is a backup of a kind = " + m.kind + " program (" + m.program + "), not of kind = " + kind;
    if (m.program == name || force || (!pair.empty() && (m.pair == pair || m.program == pair))) return {};
    std::string of = !m.pair.empty() ? "the replicated pair " + m.pair
                     : m.program.empty() ? "an unnamed program (its manifest has no \"program\")" : m.program;
    if (!m.db_user.empty() || !m.db_name.empty())
        of += " (role " + (m.db_user.empty() ? "?" : m.db_user) + ", database " + (m.db_name.empty() ? "?" : m.db_name) +
              ")";
    return "it is a backup of " + of + ", not of " + name + ": restoring it would replace " + name +
           "'s data with that program's; add --force to do so anyway";
}

const PairMember* backup_source(const std::vector<PairMember>& members, std::string& why) {
    const PairMember* primary = nullptr;
    for (const auto& m : members)
        if (m.role == "primary") primary = &m;
    for (const auto& m : members) {
        if (m.role != "replica" || m.state != "RUNNING" || !m.streaming) continue;
        if (m.health != "healthy" && !m.health.empty()) continue;
        why = m.name + ", a healthy streaming replica" + (primary ? " of " + primary->name : std::string()) +
              " (the primary is spared the load)";
        return &m;
    }
    if (!primary) {
        why = "the pair has no primary now (a failover or switchover under way?)";
        return nullptr;
    }
    why = primary->name + ", the primary: no replica is RUNNING, healthy and streaming";
    return primary;
}

std::string pg_major(std::string_view v) {
    std::size_t i = 0;
    while (i < v.size() && !std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
    std::size_t j = i;
    while (j < v.size() && std::isdigit(static_cast<unsigned char>(v[j]))) ++j;
    if (j == i) return {};
    std::string major(v.substr(i, j - i));
    // Before 10 the major version had two parts (9.6).
    if (std::stoi(major.size() > 4 ? major.substr(0, 4) : major) < 10 && j < v.size() && v[j] == '.') {
        std::size_t k = j + 1;
        while (k < v.size() && std::isdigit(static_cast<unsigned char>(v[k]))) ++k;
        if (k > j + 1) major = std::string(v.substr(i, k - i));
    }
    return major;
}

std::string iso_utc(std::time_t t) { return utc(t, "%Y-%m-%dT%H:%M:%SZ"); }
std::string stamp_utc(std::time_t t) { return utc(t, "%Y%m%dT%H%M%SZ"); }

std::string aside_path(const std::string& data_dir, std::time_t now,
                       const std::function<bool(const std::string&)>& exists) {
    const std::string base = data_dir + ".before-restore-" + stamp_utc(now);
    std::string p = base;
    for (int n = 2; exists(p); ++n) p = base + "-" + std::to_string(n);
    return p;
}

std::string aof_base_name(const std::string& appendfilename) { return appendfilename + ".1.base.rdb"; }

std::string aof_manifest_text(const std::string& appendfilename) {
    return "file " + aof_base_name(appendfilename) + " seq 1 type b\n";
}

std::int64_t keys_in(const std::map<std::string, std::string>& info) {
    std::int64_t total = 0;
    bool any = false;
    for (const auto& [k, v] : info) {
        if (k.size() < 3 || k.compare(0, 2, "db") != 0 ||
            !std::all_of(k.begin() + 2, k.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
            continue;
        if (v.rfind("keys=", 0) != 0) continue;
        try {
            total += std::stoll(v.substr(5));
            any = true;
        } catch (const std::exception&) {
            return -1;
        }
    }
    return any ? total : (info.empty() ? -1 : 0);
}

}  // namespace vigil::ctl::backup
