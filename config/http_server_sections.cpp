// [unix_http_server], [inet_http_server], [supervisorctl] and
// [rpcinterface:supervisor]: supervisord's listener and client sections
// (config/http_servers.hpp says what each becomes in vigil).
#include <algorithm>

#include "config/build.hpp"
#include "config/values.hpp"

namespace vigil::config::detail {
namespace {

constexpr std::size_t kMaxSocketPath = 107;  // sockaddr_un::sun_path less its NUL
constexpr std::string_view kFactory = "supervisor.rpcinterface:make_main_rpcinterface";

void credentials(Values& v, Credentials& out) {
    v.string("username", out.username);
    v.string("password", out.password);
}

bool loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

// supervisord's inet_address: "port", "host:port" or "*:port".
bool parse_port(const std::string& text, std::string& host, int& port, std::string& why) {
    const std::size_t colon = text.rfind(':');
    const std::string p = colon == std::string::npos ? text : text.substr(colon + 1);
    host = colon == std::string::npos ? "" : text.substr(0, colon);
    if (host == "*") host.clear();
    try {
        std::size_t used = 0;
        port = std::stoi(p, &used);
        if (used != p.size() || port < 1 || port > 65535) throw std::out_of_range(p);
    } catch (const std::exception&) {
        why = "expected [host:]port with a port in 1..65535, got '" + text + "'";
        return false;
    }
    return true;
}

}  // namespace

void build_http_servers(const std::vector<RawSection>& sections, const LoadOptions& options, Errors& errors,
                        Daemon& daemon) {
    HttpServers& http = daemon.http;
    bool vigil_socket = false;
    for (const auto& s : sections)
        if (s.type == "vigil")
            vigil_socket = vigil_socket || std::any_of(s.entries.begin(), s.entries.end(), [](const ini::Entry& e) {
                               return e.key == "control_socket";
                           });
    for (const auto& s : sections) {
        ExpandVars vars = base_vars(s, options);
        if (s.type == "unix_http_server") {
            static constexpr std::string_view kKnown[] = {"file", "chmod", "chown", "username", "password"};
            Keys keys(s, kKnown, {}, errors);
            Values v(s, keys, vars, errors);
            if (const ini::Entry* e = v.entry("file"); e && !vigil_socket) {
                if (auto t = v.text(*e)) {
                    if (t->empty() || t->size() > kMaxSocketPath)
                        v.error(*e, "must be a socket path of 1 to " + std::to_string(kMaxSocketPath) + " bytes");
                    else daemon.control_socket = *t;
                }
            }
            v.parsed("chmod", http.socket_mode, [](const std::string& t, std::string& why) -> std::optional<unsigned> {
                try {
                    std::size_t used = 0;
                    const unsigned long m = std::stoul(t, &used, 8);
                    if (used == t.size() && m <= 07777) return static_cast<unsigned>(m);
                } catch (const std::exception&) {
                }
                why = "expected an octal mode such as 0700, got '" + t + "'";
                return std::nullopt;
            });
            if (auto t = v.text("chown")) {
                const std::size_t colon = t->find(':');
                http.socket_owner = t->substr(0, colon);
                if (colon != std::string::npos) http.socket_owner_group = t->substr(colon + 1);
            }
            credentials(v, http.unix_auth);
        } else if (s.type == "inet_http_server") {
            static constexpr std::string_view kKnown[] = {"port", "username", "password", "read_only_username",
                                                          "read_only_password"};
            Keys keys(s, kKnown, {}, errors);
            Values v(s, keys, vars, errors);
            credentials(v, http.inet_auth);
            v.string("read_only_username", http.inet_read_auth.username);
            v.string("read_only_password", http.inet_read_auth.password);
            if (const ini::Entry* ro = v.entry("read_only_username");
                ro && (http.inet_auth.username.empty() || http.inet_read_auth.password.empty()))
                v.error(*ro, "read_only_username needs read_only_password, and username/password for the "
                             "user who may act (without them the port would let anyone act)");
            const ini::Entry* e = v.entry("port");
            if (!e) {
                v.missing("[inet_http_server] needs port = [host:]port");
                continue;
            }
            auto t = v.text(*e);
            std::string why;
            if (!t) continue;
            if (!parse_port(*t, http.inet_host, http.inet_port, why)) {
                v.error(*e, why);
                continue;
            }
            // Anyone who can reach the port could stop every program.
            if (!loopback(http.inet_host) && (http.inet_auth.username.empty() || http.inet_auth.password.empty())) {
                v.error(*e, "listening on " + (http.inet_host.empty() ? std::string("every address") : http.inet_host) +
                                " needs username and password (only a loopback address may go without)");
                continue;
            }
            http.inet = true;
        } else if (s.type == "supervisorctl") {
            // prompt and history_file are supervisorctl's own; vigilctl has its shell's.
            static constexpr std::string_view kKnown[] = {"serverurl", "username", "password", "prompt",
                                                          "history_file"};
            Keys keys(s, kKnown, {}, errors);
            Values v(s, keys, vars, errors);
            v.string("serverurl", http.serverurl);
            credentials(v, http.ctl_auth);
            if (!http.serverurl.empty() && http.serverurl.rfind("unix://", 0) != 0 &&
                http.serverurl.rfind("http://", 0) != 0)
                v.error(*v.entry("serverurl"), "expected unix:///path or http://host:port, got '" + http.serverurl + "'");
            if (!vigil_socket && http.serverurl.rfind("unix://", 0) == 0) http.ctl_socket = http.serverurl.substr(7);
        } else if (s.type == "rpcinterface") {
            static constexpr std::string_view kKnown[] = {"supervisor.rpcinterface_factory"};
            Keys keys(s, kKnown, {}, errors);
            Values v(s, keys, vars, errors);
            std::string factory;
            v.string("supervisor.rpcinterface_factory", factory);
            if (factory != kFactory)
                v.section_error("[rpcinterface:" + s.name + "]: vigil serves supervisord's own interface only (" +
                                std::string(kFactory) + "), not '" + factory + "'");
        }
    }
}

}  // namespace vigil::config::detail
