#include "helpers.hpp"

using namespace cfgtest;

TEST_CASE("config: every example config loads") {
    LoadOptions o;
    o.env = {{"HOME", "/home/demo"}, {"USER", "demo"}};
    int seen = 0;
    for (const auto& entry : std::filesystem::directory_iterator(examples_dir())) {
        if (entry.path().extension() != ".ini") continue;
        ++seen;
        LoadResult r = load_file(entry.path().string(), o);
        INFO(entry.path() << "\n" << dump(r));
        CHECK(r.ok());
    }
    CHECK(seen >= 1);
}

TEST_CASE("config: demo.ini has what its comments promise") {
    LoadResult r = load_file((examples_dir() / "demo.ini").string(), {});
    INFO(dump(r));
    REQUIRE(r.ok());
    const Config& c = *r.config;
    CHECK(c.daemon.control_socket == "/tmp/vigil-demo/vigil.sock");
    CHECK(c.daemon.log_dir == "/tmp/vigil-demo/log");
    CHECK(names(c) == std::vector<std::string>{"ticker", "warmup", "reporter", "worker_0", "worker_1"});
    CHECK(get(c, "worker_1").depends_on.at(0).name == "ticker");
    CHECK(get(c, "worker_1").environment.at(0) == std::pair<std::string, std::string>{"WORKER_ID", "1"});
    CHECK(get(c, "worker_0").command.find("date +%T") != std::string::npos);
    CHECK(get(c, "warmup").health.kind == HealthKind::exec);
    CHECK(get(c, "reporter").depends_on.at(0).condition == DependencyCondition::healthy);
    CHECK(get(c, "ticker").stdout_log.path == "/tmp/vigil-demo/log/ticker.out.log");
}
