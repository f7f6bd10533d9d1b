// The kind = redis wrapper (config/kinds.cpp) with the role vigild gives a
// member of a replicated pair (docs/replication.md), run for real under
// /bin/sh with the argv vigild gives it and a stand-in redis-server that
// writes down its arguments: a replica starts with --replicaof its primary,
// a fenced member and a paired primary without data refuse to start (exit
// 1 and 3), a paired primary that has its AOF or RDB starts as a master.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/kinds.hpp"
#include "harness.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;

namespace {

struct Outcome {
    int rc;
    std::string output;
    std::string args;  // what the stand-in was started with; "" if it was not
};

class RedisWrapper {
public:
    RedisWrapper() {
        args_ = dir_ / "args";
        bin_ = dir_ / "redis-server";
        write_file(bin_, "#!/bin/sh\necho \"$@\" > " + args_ + "\n");
        fs::permissions(bin_, fs::perms::owner_all);
    }
    Outcome start(const std::string& data_dir, const std::vector<std::string>& env) const {
        fs::remove(args_);
        std::vector<std::string> argv{"env"};
        argv.insert(argv.end(), env.begin(), env.end());
        for (const std::string& a : {std::string("/bin/sh"), std::string("-c"), std::string(vigil::config::kRedisScript),
                                     std::string("vigil-redis"), bin_, data_dir, std::string("127.0.0.1"),
                                     std::string("6380")})
            argv.push_back(a);
        Outcome o{};
        o.rc = run(argv, &o.output);
        std::ifstream in(args_);
        std::getline(in, o.args);
        return o;
    }
    std::string data(const std::string& name) const { return dir_ / name; }

private:
    TempDir dir_;
    std::string bin_, args_;
};

}  // namespace

TEST_CASE("kind redis roles: a replica starts with --replicaof its primary, read-only", "[kinds][replication]") {
    RedisWrapper w;
    auto o = w.start(w.data("r"), {"VIGIL_ROLE=replica", "VIGIL_NAME=cache-r", "VIGIL_UPSTREAM_HOST=127.0.0.1",
                                   "VIGIL_UPSTREAM_PORT=6379", "VIGIL_PAIRED=1"});
    INFO(o.output);
    CHECK(o.rc == 0);
    CHECK(o.args.find("--port 6380 --bind 127.0.0.1 --dir " + w.data("r")) != std::string::npos);
    CHECK(o.args.find("--replicaof 127.0.0.1 6379 --replica-read-only yes") != std::string::npos);
    CHECK(o.args.find("--repl-diskless-sync-delay 0") != std::string::npos);  // the first copy at once
    CHECK(o.output.find("cache-r starts as a replica of 127.0.0.1:6379") != std::string::npos);
    CHECK(fs::is_directory(w.data("r")));
}

TEST_CASE("kind redis roles: a primary, paired or not, starts as a master when it has its data",
          "[kinds][replication]") {
    RedisWrapper w;
    // Before the pair is initialised (and for a lone redis): an empty directory is a new master.
    auto o = w.start(w.data("new"), {"VIGIL_ROLE=primary", "VIGIL_NAME=cache"});
    CHECK(o.rc == 0);
    CHECK(o.args.find("--appendonly yes") != std::string::npos);
    CHECK(o.args.find("--replicaof") == std::string::npos);
    o = w.start(w.data("lone"), {});
    CHECK(o.rc == 0);
    CHECK(o.args.find("--replicaof") == std::string::npos);
    // Paired, with an AOF manifest, or with an RDB only.
    fs::create_directories(w.data("aof") + "/appendonlydir");
    write_file(w.data("aof") + "/appendonlydir/appendonly.aof.manifest", "file appendonly.aof.1.base.rdb seq 1 type b\n");
    o = w.start(w.data("aof"), {"VIGIL_ROLE=primary", "VIGIL_NAME=cache", "VIGIL_PAIRED=1"});
    CHECK(o.rc == 0);
    CHECK_FALSE(o.args.empty());
    fs::create_directories(w.data("rdb"));
    write_file(w.data("rdb") + "/dump.rdb", "REDIS0010");
    o = w.start(w.data("rdb"), {"VIGIL_ROLE=primary", "VIGIL_NAME=cache", "VIGIL_PAIRED=1"});
    CHECK(o.rc == 0);
    CHECK_FALSE(o.args.empty());
}

TEST_CASE("kind redis roles: a paired primary without data is not started as an empty master (exit 3)",
          "[kinds][replication]") {
    RedisWrapper w;
    fs::create_directories(w.data("gone") + "/appendonlydir");  // the directory, but no manifest in it
    auto o = w.start(w.data("gone"), {"VIGIL_ROLE=primary", "VIGIL_NAME=cache", "VIGIL_PAIRED=1"});
    CHECK(o.rc == 3);
    CHECK(o.args.empty());
    CHECK(o.output.find("is part of a replicated pair: it is not started as a new, empty master") != std::string::npos);
    o = w.start(w.data("missing"), {"VIGIL_ROLE=primary", "VIGIL_NAME=cache", "VIGIL_PAIRED=1"});
    CHECK(o.rc == 3);
    CHECK_FALSE(fs::exists(w.data("missing")));  // nothing made for it either
}

TEST_CASE("kind redis roles: a fenced member refuses to start (exit 1) and says why", "[kinds][replication]") {
    RedisWrapper w;
    auto o = w.start(w.data("f"), {"VIGIL_ROLE=fenced", "VIGIL_NAME=cache", "VIGIL_PAIRED=1"});
    CHECK(o.rc == 1);
    CHECK(o.args.empty());
    CHECK(o.output.find("vigil: error: cache is fenced") != std::string::npos);
}
