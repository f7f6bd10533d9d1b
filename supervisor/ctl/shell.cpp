#include "supervisor/ctl/shell.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <editline/readline.h>

#include "config/command_line.hpp"
#include "supervisor/control_protocol.hpp"
#include "supervisor/ctl/commands.hpp"

namespace vigil::ctl {
namespace {

namespace field = control::field;

const Client* g_client = nullptr;  // libedit's callbacks take no context
std::vector<std::string> g_candidates;

std::vector<std::string> process_names() {
    std::vector<std::string> names;
    std::string error;
    auto r = g_client->call("GET", control::route::path(control::route::programs), "", error, std::chrono::seconds(2));
    if (!r || r->status != 200) return names;
    const auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (!j.is_array()) return names;
    // Each process once, each group's GROUP:* once (not once per process:
    // a numprocs program would list its GROUP:* numprocs times).
    std::set<std::string> seen;
    auto add = [&](std::string n) {
        if (!n.empty() && seen.insert(n).second) names.push_back(std::move(n));
    };
    for (const auto& p : j) add(p.value(field::name, ""));
    for (const auto& p : j) add(p.value(field::group, "") + ":*");
    add("all");
    return names;
}

char* generate(const char* text, int state) {
    static std::size_t index;
    if (state == 0) index = 0;
    const std::size_t len = std::strlen(text);
    while (index < g_candidates.size()) {
        const std::string& c = g_candidates[index++];
        if (c.compare(0, len, text) == 0) return ::strdup(c.c_str());
    }
    return nullptr;
}

char** complete(const char* text, int start, int) {
    // The first word is a verb; later words are process names.
    g_candidates = start == 0 ? verbs() : process_names();
    return rl_completion_matches(text, generate);
}

}  // namespace

int run_shell(const Client& client) {
    g_client = &client;
    rl_attempted_completion_function = complete;
    const char* home = std::getenv("HOME");
    const std::string history = std::string(home ? home : ".") + "/.vigilctl_history";
    using_history();
    read_history(history.c_str());

    int last = kOk;
    run_command(client, {"status"}, std::cout, std::cerr);
    while (char* raw = readline("vigil> ")) {
        std::string line(raw);
        std::free(raw);
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        add_history(line.c_str());
        const auto split = config::split_command(line);
        if (!split.error.empty()) {
            std::cerr << "vigilctl: " << split.error << "\n";
            continue;
        }
        if (split.argv[0] == "quit" || split.argv[0] == "exit") break;
        // A typo at the prompt deserves one line, not the whole usage.
        if (std::find(verbs().begin(), verbs().end(), split.argv[0]) == verbs().end()) {
            std::cerr << "vigilctl: unknown command '" << split.argv[0] << "', try help\n";
            last = kUsage;
            continue;
        }
        last = run_command(client, split.argv, std::cout, std::cerr);
    }
    write_history(history.c_str());
    return last;
}

}  // namespace vigil::ctl
