// vigilctl: supervisorctl for vigild. Finds the control socket from -s, or
// the config's control_socket (-c, read even from a file with errors), or the
// default path, then runs one verb or, with none, the interactive shell.
// `export` needs no vigild: it only reads the config.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "supervisor/ctl/commands.hpp"
#include "supervisor/ctl/k8s_export.hpp"
#include "supervisor/ctl/shell.hpp"

int main(int argc, char** argv) {
    using namespace vigil;
    std::string socket, config_file;
    std::vector<std::string> rest;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (!rest.empty()) rest.push_back(a);  // everything after the verb belongs to it
        else if ((a == "-s" || a == "--socket") && i + 1 < argc) socket = argv[++i];
        else if ((a == "-c" || a == "--config") && i + 1 < argc) config_file = argv[++i];
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
    if (socket.empty() && !config_file.empty()) {
        config::LoadOptions opts;
        opts.env = config::environment_map();
        auto loaded = config::load_file(config_file, opts);
        // [vigil] control_socket, else [supervisorctl] serverurl = unix://…,
        // else [unix_http_server] file (config/http_servers.hpp).
        const auto& http = loaded.daemon.http;
        socket = http.ctl_socket.empty() ? loaded.daemon.control_socket : http.ctl_socket;
        if (http.serverurl.rfind("http://", 0) == 0 && http.ctl_socket.empty())
            std::cerr << "vigilctl: note: [supervisorctl] serverurl " << http.serverurl
                      << " is for supervisorctl; vigilctl uses the Unix socket " << socket << "\n";
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
    if (socket.empty()) socket = "/run/vigil/vigil.sock";
    const ctl::Client client(socket);
    if (rest.empty()) {
        if (!::isatty(STDIN_FILENO)) {
            std::cerr << ctl::usage();
            return ctl::kUsage;
        }
        return ctl::run_shell(client);
    }
    return ctl::run_command(client, rest, std::cout, std::cerr);
}
