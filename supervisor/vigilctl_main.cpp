// vigilctl: supervisorctl for vigild. Finds vigild from -s (a socket path,
// unix:///path or http://host:port, as supervisorctl's -s), or the config
// (-c, read even from a file with errors: [vigil] control_socket, else
// [supervisorctl] serverurl, else [unix_http_server] file), or the default
// path, then runs one verb or, with none, the interactive shell.
// `export` needs no vigild: it only reads the config.
#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "supervisor/ctl/commands.hpp"
#include "supervisor/ctl/k8s_export.hpp"
#include "supervisor/ctl/shell.hpp"

int main(int argc, char** argv) {
    using namespace vigil;
    std::string socket, config_file;
    std::optional<std::string> username, password;
    std::vector<std::string> rest;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (!rest.empty()) rest.push_back(a);  // everything after the verb belongs to it
        else if ((a == "-s" || a == "--socket") && i + 1 < argc) socket = argv[++i];
        else if ((a == "-c" || a == "--config") && i + 1 < argc) config_file = argv[++i];
        else if ((a == "-u" || a == "--username") && i + 1 < argc) username = argv[++i];
        else if ((a == "-p" || a == "--password") && i + 1 < argc) password = argv[++i];
        else if (a == "-h" || a == "--help") {
            std::cout << ctl::usage();
            return ctl::kOk;
        } else if (a.size() > 1 && a[0] == '-') {
            std::cerr << "vigilctl: unknown option '" << a << "'\n" << ctl::usage();
            return ctl::kUsage;
        } else rest.push_back(a);
    }
    // Offline: reads the config, never vigild (and a broken config is fatal here).
    if (!rest.empty() && rest[0] == "export")
        return ctl::run_export(config_file, std::vector<std::string>(rest.begin() + 1, rest.end()), std::cout,
                               std::cerr);
    ctl::Endpoint at;
    if (!socket.empty()) {
        if (socket.rfind("unix://", 0) == 0) {
            at.path = socket.substr(7);
        } else if (socket.rfind("http://", 0) == 0) {
            if (!config::parse_http_url(socket, at.host, at.port)) {
                std::cerr << "vigilctl: -s: expected a socket path, unix:///path or http://host:port, got '" << socket
                          << "'\n";
                return ctl::kUsage;
            }
        } else {
            at.path = socket;
        }
    }
    if (socket.empty() && !config_file.empty()) {
        config::LoadOptions opts;
        opts.env = config::environment_map();
        auto loaded = config::load_file(config_file, opts);
        // [vigil] control_socket, else [supervisorctl] serverurl (unix://…
        // or http://host:port), else [unix_http_server] file
        // (config/http_servers.hpp); [supervisorctl]'s username and
        // password go with every request, as supervisorctl sends them.
        const auto& http = loaded.daemon.http;
        if (http.ctl_port != 0) {
            at.host = http.ctl_host;
            at.port = http.ctl_port;
        } else {
            at.path = http.ctl_socket.empty() ? loaded.daemon.control_socket : http.ctl_socket;
        }
        at.username = http.ctl_auth.username;
        at.password = http.ctl_auth.password;
        socket = at.describe();
        // An operator mid-edit, or during an incident, must still see and
        // stop things: a file with errors is reported and not fatal. vigild
        // refuses the same file on update/reload, so nothing is applied.
        if (!loaded.ok()) {
            std::cerr << "vigilctl: warning: " << config_file
                      << " has errors (vigild keeps its last good configuration; update and reload will refuse it):\n";
            for (const auto& e : loaded.errors) std::cerr << "  " << e.to_string() << "\n";
            std::cerr << "vigilctl: using control socket " << socket << "\n";
        }
    }
    if (socket.empty()) at.path = "/run/vigil/vigil.sock";
    if (username) at.username = *username;
    if (password) at.password = *password;
    const ctl::Client client(at);
    if (rest.empty()) {
        if (!::isatty(STDIN_FILENO)) {
            std::cerr << ctl::usage();
            return ctl::kUsage;
        }
        return ctl::run_shell(client);
    }
    return ctl::run_command(client, rest, std::cout, std::cerr);
}
