// The owner check both kind wrappers (config/kinds.cpp) run before anything
// touches data_dir, run for real: the script under /bin/sh with the argv
// vigild gives it, as user nobody, with stand-ins for initdb, postgres and
// redis-server that leave a mark when run. A data_dir owned by someone else
// ends the script with exit 1 and the one vigil error line, before a server
// or install runs; a data_dir nobody owns (or that does not exist yet) goes on
// to the server.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <unistd.h>

#include <filesystem>

#include "config/kinds.hpp"
#include "harness.hpp"
#include "prerequisites.hpp"

using namespace vigil::test;
namespace fs = std::filesystem;

namespace {

struct Outcome {
    int rc;
    std::string output;
};

class Wrappers {
public:
    Wrappers() {
        ran_ = dir_ / "ran";
        fs::create_directories(ran_);
        fs::permissions(ran_, fs::perms::all);  // nobody leaves its marks here
        bin_ = install_reachable(dir_, "/bin/true");  // makes dir_ and dir_/bin reachable
        bin_ = fs::path(bin_).parent_path().string();
        for (const char* name : {"initdb", "postgres", "redis-server"}) {
            // Each stand-in records its name; initdb also writes PG_VERSION
            // into -D's directory, as the real one does.
            const std::string path = bin_ + "/" + name;
            write_file(path, std::string("#!/bin/sh\ntouch ") + ran_ + "/" + name +
                                 (std::string(name) == "initdb" ? "\ninstall -d \"$2\" && echo 15 > \"$2/PG_VERSION\"\n"
                                                                : "\n"));
            fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                      fs::perms::others_read | fs::perms::others_exec);
        }
    }

    Outcome postgres(const std::string& data_dir) const {
        return as_nobody({"/bin/sh", "-c", std::string(vigil::config::kPostgresScript), "vigil-postgres", bin_,
                          data_dir, "127.0.0.1", "5432", "postgres", "postgres"});
    }
    Outcome redis(const std::string& data_dir) const {
        return as_nobody({"/bin/sh", "-c", std::string(vigil::config::kRedisScript), "vigil-redis",
                          bin_ + "/redis-server", data_dir, "127.0.0.1", "6379"});
    }

    bool ran(const std::string& name) const { return fs::exists(ran_ + "/" + name); }
    const TempDir& dir() const { return dir_; }

    // A directory in the temp dir, owned by `user`.
    std::string owned_dir(const std::string& name, const std::string& user) const {
        const std::string d = dir_ / name;
        fs::create_directories(d);
        const passwd* pw = ::getpwnam(user.c_str());
        REQUIRE(pw != nullptr);
        REQUIRE(::chown(d.c_str(), pw->pw_uid, pw->pw_gid) == 0);
        return d;
    }

private:
    static Outcome as_nobody(std::vector<std::string> argv) {
        argv.insert(argv.begin(), {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"});
        Outcome o{};
        o.rc = run(argv, &o.output);
        return o;
    }

    TempDir dir_;
    std::string ran_, bin_;
};

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    return out;
}

}  // namespace

TEST_CASE("kinds: both wrappers refuse a data_dir owned by another user, before anything touches it",
          "[integration][kinds]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("nobody").executable("/usr/bin/setpriv"));
    Wrappers w;
    const std::string theirs = w.owned_dir("theirs", "root");
    write_file(theirs + "/keep", "root's file\n");
    const std::string line = "vigil: error: data_dir " + theirs +
                             " is owned by root, but the program runs as nobody: chown -R nobody " + theirs;

    const Outcome pg = w.postgres(theirs);
    INFO(pg.output);
    CHECK(pg.rc == 1);
    CHECK(pg.output == line + "\n");
    const Outcome redis = w.redis(theirs);
    INFO(redis.output);
    CHECK(redis.rc == 1);
    CHECK(redis.output == line + "\n");

    // Nothing ran and nothing changed: no initdb, no server, no install.
    CHECK_FALSE(w.ran("initdb"));
    CHECK_FALSE(w.ran("postgres"));
    CHECK_FALSE(w.ran("redis-server"));
    CHECK(entries(theirs) == std::vector<std::string>{"keep"});
    CHECK((fs::status(theirs).permissions() & fs::perms::all) ==
          (fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
           fs::perms::others_exec));
}

TEST_CASE("kinds: both wrappers go on to the server when the program's user owns data_dir or it is new",
          "[integration][kinds]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("nobody").executable("/usr/bin/setpriv"));
    Wrappers w;
    const std::string parent = w.owned_dir("nobodys", "nobody");

    // Owned by nobody: redis creates nothing new, postgres initialises it.
    const std::string own = w.owned_dir("nobodys/own", "nobody");
    const Outcome redis = w.redis(own);
    INFO(redis.output);
    CHECK(redis.rc == 0);
    CHECK(w.ran("redis-server"));
    const Outcome pg = w.postgres(own);
    INFO(pg.output);
    CHECK(pg.rc == 0);
    CHECK(w.ran("initdb"));
    CHECK(w.ran("postgres"));
    CHECK(read_file(own + "/PG_VERSION") == "15\n");

    // Not there yet, in a directory nobody may write: created, then the server.
    fs::remove(w.dir() / "ran/redis-server");
    const Outcome fresh = w.redis(parent + "/new");
    INFO(fresh.output);
    CHECK(fresh.rc == 0);
    CHECK(w.ran("redis-server"));
    CHECK(fs::is_directory(parent + "/new"));
    CHECK((fs::status(parent + "/new").permissions() & fs::perms::all) == fs::perms::owner_all);
}
