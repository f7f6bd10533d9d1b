// Every config in config/examples/ run for real under vigild until it is
// stable — not only that it loads (issue 14, item 7: demo.ini restarted
// `warmup` for ever and its `reporter` never ran). Stable means:
//
//   - every process RUNNING and, where it has a healthcheck, healthy; except
//     a program that may end (autorestart = unexpected or false), which in an
//     example is a one-shot (demo.ini's reporter): it must have run and ended,
//     EXITED with one of its exitcodes;
//   - then nothing changes for a window of a few health intervals: no state
//     change, no health change, no restart.
//
// Each example runs in a temp dir: its [vigil] section is replaced by the
// harness's, and the directory of its control socket (where an example
// writes, e.g. /tmp/vigil-demo) becomes the temp dir. payment-system.ini runs
// as tests/ha's stack (free ports, services installed where nobody reaches
// them), SKIPPED without root, PostgreSQL and Redis. A new example file is
// covered by the first test case without any change here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "config/loader.hpp"
#include "harness.hpp"
#include "prerequisites.hpp"
#include "stack.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kExamples = std::string(VIGIL_SOURCE_DIR) + "/config/examples";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

// What each process of a loaded config must reach to count as settled.
struct Goal {
    bool checked = false;  // has a healthcheck: must be healthy
    bool may_end = false;  // autorestart unexpected/false: a one-shot, EXITED with one of `exitcodes`
    std::vector<int> exitcodes;
    std::chrono::milliseconds health_interval{0};
    int health_retries = 0;
};

std::map<std::string, Goal> goals_of(const std::string& config_path) {
    vigil::config::LoadOptions options;
    options.env = vigil::config::environment_map();
    const auto loaded = vigil::config::load_file(config_path, options);
    std::string errors;
    for (const auto& e : loaded.errors) errors += e.to_string() + "\n";
    INFO(errors);
    REQUIRE(loaded.ok());
    std::map<std::string, Goal> goals;
    for (const auto& p : loaded.config->programs) {
        Goal g;
        g.checked = p.health.kind != vigil::config::HealthKind::none;
        g.may_end = p.autorestart != vigil::config::AutoRestart::always;
        g.exitcodes = p.exitcodes;
        g.health_interval = std::chrono::milliseconds(p.health.interval.count());
        g.health_retries = p.health.retries;
        goals[p.name] = g;
    }
    return goals;
}

json status(const Vigild& v) {
    std::string out;
    v.ctl({"status", "--json"}, &out, 10s);  // its exit code tells what the JSON says
    return json::parse(out, nullptr, false);
}

// "" when every process has reached its goal; else what has not (one a line).
std::string unsettled(const json& st, const std::map<std::string, Goal>& goals) {
    if (!st.is_array()) return "no status from vigild\n";
    std::string out;
    std::set<std::string> seen;
    for (const auto& p : st) {
        const std::string name = p.value("name", "");
        seen.insert(name);
        const auto g = goals.find(name);
        const std::string state = p.value("state", ""), health = p.value("health", "");
        const bool one_shot = g != goals.end() && g->second.may_end;
        const bool running =
            !one_shot && state == "RUNNING" && (g == goals.end() || !g->second.checked || health == "healthy");
        const auto& codes = g == goals.end() ? std::vector<int>{} : g->second.exitcodes;
        const bool ended = one_shot && state == "EXITED" && p["exit_code"].is_number() &&
                           std::count(codes.begin(), codes.end(), p["exit_code"].get<int>()) > 0;
        if (!running && !ended)
            out += name + ": " + state + (health.empty() ? "" : " (" + health + ")") + " " +
                   p.value("description", "") + "\n";
    }
    for (const auto& [name, g] : goals)
        if (!seen.count(name)) out += name + ": not in vigild's status\n";
    return out;
}

// Waits until every process reached its goal (re-checked at every line
// vigild logs), then watches a window of a few health intervals for any
// further change. Returns "" when stable, else why not.
std::string settle(Vigild& v, const std::map<std::string, Goal>& goals, Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string why;
    for (;;) {
        const std::size_t seen = v.line_count();  // before the look: no change slips between
        why = unsettled(status(v), goals);
        if (why.empty()) break;
        const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
        if (left <= 0ms) return "not settled within " + std::to_string(timeout.count()) + " ms:\n" + why;
        if (v.output_ended()) return "vigild ended:\n" + why;
        v.wait_for_more(seen, std::min<Ms>(left, 1s));
    }
    Ms window = 3s;
    for (const auto& [name, g] : goals)
        if (g.checked) window = std::max<Ms>(window, g.health_interval * (g.health_retries + 1));
    window = std::min<Ms>(window, 15s);
    // A state change ("x: RUNNING -> BACKOFF") or a health change ("x: health
    // healthy -> unhealthy") within the window: not stable. Woken by every
    // line vigild logs, so a change ends the wait at once.
    const std::size_t from = v.line_count();
    const auto window_end = Clock::now() + window;
    for (;;) {
        if (const auto changed = v.find_line(": (health )?[a-zA-Z]+ -> ", from))
            return "settled, then changed within " + std::to_string(window.count()) + " ms: " + v.log()[*changed];
        const auto left = std::chrono::duration_cast<Ms>(window_end - Clock::now());
        if (left <= 0ms) break;
        if (v.output_ended()) return "vigild ended";
        v.wait_for_more(v.line_count(), left);
    }
    why = unsettled(status(v), goals);
    return why.empty() ? "" : "settled, then left it:\n" + why;
}

// The example as a harness config: its [vigil] section dropped (the
// harness writes its own), its own directory becoming the temp dir.
std::string adapted(const std::string& path, const std::string& dir) {
    std::string out, own_dir;
    bool in_vigil = false;
    for (const auto& line : lines_of(read_file(path))) {
        if (!line.empty() && line[0] == '[') in_vigil = line.rfind("[vigil]", 0) == 0;
        if (!in_vigil) {
            out += line + "\n";
        } else if (line.rfind("control_socket", 0) == 0) {
            const auto eq = line.find('=');
            std::string sock = line.substr(eq + 1);
            sock = sock.substr(0, sock.find(';'));
            sock.erase(0, sock.find_first_not_of(" \t"));
            sock.erase(sock.find_last_not_of(" \t") + 1);
            own_dir = fs::path(sock).parent_path().string();
        }
    }
    if (!own_dir.empty() && own_dir != "/") out = replace_all(out, own_dir + "/", dir + "/");
    // %(here)s meant config/examples; the copy lives in the temp dir.
    return replace_all(out, "%(here)s", kExamples);
}

}  // namespace

TEST_CASE("every example config but payment-system.ini runs until stable", "[examples]") {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(kExamples))
        if (e.path().extension() == ".ini" && e.path().filename() != "payment-system.ini")
            files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    REQUIRE(!files.empty());
    for (const auto& file : files) {
        DYNAMIC_SECTION(fs::path(file).filename().string()) {
            Vigild v("");
            write_file(v.config_path(), read_file(v.config_path()) + adapted(file, v.dir().path()));
            const auto goals = goals_of(v.config_path());
            REQUIRE(!goals.empty());
            v.start();
            const std::string why = settle(v, goals, 60s);
            INFO(fs::path(file).filename().string() << ":\n" << why << "\nvigild's log:\n" << v.log_text());
            CHECK(why.empty());
            CHECK(v.terminate() == 0);
        }
    }
}

TEST_CASE("payment-system.ini runs until stable, every program RUNNING and healthy", "[examples]") {
    VIGIL_SKIP_UNLESS(stack_prerequisites());
    Stack s;
    const auto goals = goals_of(s.v->config_path());
    REQUIRE(goals.size() == kPrograms.size());
    const std::string why = settle(*s.v, goals, 90s);
    INFO(why << "\nvigild's log:\n" << s.v->log_text());
    CHECK(why.empty());
    CHECK(s.all_healthy());
}
