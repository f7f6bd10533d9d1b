// HA scenarios 11, 11b and 11c (README.md here): a replicated Redis pair under
// vigild (kind = redis, replica_of: docs/replication.md), real redis-server
// processes on free ports in a temp dir, vigil-proxy's `mode = tcp`
// listener in front of a `role = primary` pool, and a client that SETs one
// unique key at a time through that listener and counts every acknowledged
// SET. 11: the master's data directory deleted and its server killed → the
// replica is promoted (REPLICAOF NO ONE), writes go on through the listener,
// the old master rejoins as a replica; acknowledged writes lost counted.
// 11b: `vigilctl switchover` under the same load. 11c: the replica killed:
// writes go on, it comes back, resynchronises and is in sync again.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "acked_writer.hpp"
#include "replication_support.hpp"
#include "stack.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using namespace vigil::test;

namespace {

// One blocking RESP connection to 127.0.0.1:port, 2 s per reply at most.
class Resp {
public:
    explicit Resp(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const timeval bound{2, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~Resp() { ::close(fd_); }
    bool ok() const { return ok_; }
    // Sends every command in one write; each reply's first line ("+OK",
    // ":1", "-READONLY …"); nullopt when the connection fails.
    std::optional<std::vector<std::string>> call(const std::vector<std::vector<std::string>>& commands) {
        std::string req;
        for (const auto& argv : commands) {
            req += "*" + std::to_string(argv.size()) + "\r\n";
            for (const auto& a : argv) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
        }
        if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return std::nullopt;
        std::vector<std::string> out;
        while (out.size() < commands.size()) {
            const auto eol = buf_.find("\r\n");
            if (eol != std::string::npos) {
                out.push_back(buf_.substr(0, eol));
                buf_.erase(0, eol + 2);
                continue;  // the replies vigild's clients need here are one line each
            }
            char tmp[16384];
            const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return std::nullopt;
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
        return out;
    }

private:
    int fd_ = -1;
    bool ok_ = false;
    std::string buf_;
};

struct RedisPair {
    std::unique_ptr<Vigild> v;
    int port_a = 0, port_b = 0, listen = 0;
    std::string data;

    RedisPair() {
        auto ports = free_ports(3);
        port_a = ports[0];
        port_b = ports[1];
        listen = ports[2];
        auto program = [&](const std::string& name, int port, const std::string& extra) {
            return "[program:" + name + "]\nkind = redis\nuser = redis\ndata_dir = %(here)s/data/" + name +
                   "\naddress = 127.0.0.1:" + std::to_string(port) + "\nhealth_interval = 500ms\n" + extra + "\n";
        };
        v = std::make_unique<Vigild>(program("cache", port_a, "failover_after = 5s") +
                                     program("cache-replica", port_b, "replica_of = cache") +
                                     "[upstream:cache]\nservers = cache cache-replica\nrole = primary\n\n"
                                     "[proxy:cache]\nmode = tcp\nlisten = 127.0.0.1:" + std::to_string(listen) +
                                     "\nroute = cache\n\n[program:proxy]\nkind = proxy\nstartsecs = 0\n");
        data = v->dir() / "data";
        std::filesystem::create_directories(data);
        REQUIRE(::chmod(v->dir().path().c_str(), 0755) == 0);  // redis must reach its data_dir inside
        passwd* pw = ::getpwnam("redis");
        REQUIRE(pw);
        REQUIRE(::chown(data.c_str(), pw->pw_uid, pw->pw_gid) == 0);
        v->start();
    }
    pid_t pid(const std::string& name) const {
        std::string out;
        if (v->ctl({"pid", name}, &out) != 0) return 0;
        return static_cast<pid_t>(std::atoi(out.c_str()));
    }
    bool wait_status(const std::string& name, const std::string& needle, Ms timeout) const {
        return vigil::test::wait_status(*v, name, needle, timeout);
    }
};

// The writer's client: SETs key w:ID to ID through the listener; an error
// (a replica's -READONLY) or a cut connection is not acknowledged. The
// listener hides which server answered, so the acknowledgement says when
// the SET was sent instead (the first after a kill: sent to the new master).
class SetConnection final : public WriterConnection {
public:
    explicit SetConnection(int port) : c_(port) {}
    bool ok() const override { return c_.ok(); }
    std::optional<Ack> write(long id) override {
        const auto sent = Clock::now();
        auto r = c_.call({{"SET", "w:" + std::to_string(id), std::to_string(id)}});
        if (!r || r->at(0) != "+OK") return std::nullopt;
        return Ack{"", sent};
    }

private:
    Resp c_;
};

// Acknowledged keys missing on the server at `port`.
long lost(int port, Writer& w) {
    Resp c(port);
    REQUIRE(c.ok());
    std::vector<long> ids;
    {
        std::lock_guard lock(w.mu);
        ids.assign(w.acked.begin(), w.acked.end());
    }
    long missing = 0;
    for (std::size_t i = 0; i < ids.size(); i += 1000) {
        std::vector<std::vector<std::string>> batch;
        for (std::size_t j = i; j < ids.size() && j < i + 1000; ++j)
            batch.push_back({"EXISTS", "w:" + std::to_string(ids[j])});
        auto r = c.call(batch);
        REQUIRE(r);
        for (const auto& line : *r) missing += line != ":1";
    }
    return missing;
}

void setup(RedisPair& p, Writer& w) {
    REQUIRE(p.wait_status("cache-replica", "replica of cache, sync", 60s));
    REQUIRE(p.wait_status("cache", "primary, asynchronous, replica in sync", 10s));
    // The API shows the pair as it does a PostgreSQL one (/metrics: the "metrics:" test below).
    std::string out;
    p.v->ctl({"status", "--json", "cache-replica"}, &out);
    INFO(out);
    CHECK(out.find(R"("asynchronous_only": true)") != std::string::npos);  // vigilctl prints it indented
    CHECK(out.find(R"("role": "replica")") != std::string::npos);
    p.v->ctl({"health", "cache-replica"}, &out);
    CHECK(out.find("replication: replica of cache, sync") != std::string::npos);
    // One SET a millisecond.
    w.start([port = p.listen] { return std::make_unique<SetConnection>(port); }, 1ms);
    REQUIRE(w.wait_more(200, 20s));
}

}  // namespace

TEST_CASE("scenario 11: the Redis master's data directory deleted and its server killed: failover, rejoin",
          "[ha][replication][redis]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("redis").executable("/usr/bin/redis-server"));
    RedisPair p;
    Writer w;
    setup(p, w);

    // How often the replica fell out of sync under the writer before the fault (each time is logged).
    long flaps = 0;
    for (const auto& line : p.v->log()) flaps += line.find("replication is asynchronous and") != std::string::npos;
    const pid_t pid = p.pid("cache");
    REQUIRE(pid > 0);
    std::filesystem::remove_all(p.data + "/cache");
    w.mark();
    const auto killed = Clock::now();
    REQUIRE(::kill(pid, SIGKILL) == 0);

    REQUIRE(p.v->expect("replication: failover to cache-replica: primary cache has failed", 20s));
    const auto detected = std::chrono::duration_cast<Ms>(Clock::now() - killed);
    REQUIRE(p.v->expect("replication: cache-replica is the primary now", 20s));
    const auto promoted = std::chrono::duration_cast<Ms>(Clock::now() - killed);
    REQUIRE(w.wait_more(200, 20s));  // writes go on through the listener, on the new master
    const Ms to_write = w.to_first_ack(killed);
    CHECK(p.wait_status("cache", "replica of cache-replica, sync", 60s));  // rejoined (REPLICAOF, full resync)
    CHECK(p.wait_status("cache-replica", "primary, asynchronous, replica in sync", 30s));
    REQUIRE(w.wait_more(50, 20s));
    w.finish();
    const long missing = lost(p.port_b, w);
    std::cout << "scenario 11: redis kill -9 + data dir deleted -> failover decided " << detected.count()
              << " ms, promoted " << promoted.count() << " ms, first write through the listener " << to_write.count()
              << " ms; longest write gap " << w.longest_gap.count() << " ms; acknowledged " << w.acked.size() << " of "
              << w.attempts << " SETs, lost " << missing << "; out of sync " << flaps << " times before the kill\n";
    if (missing != 0) {  // what happened to them: vigild's and the servers' logs
        std::cerr << "vigild's log:\n" << p.v->log_text();
        for (const char* name : {"cache.out.log", "cache-replica.out.log"}) {
            std::ifstream in(p.v->dir() / ("log/" + std::string(name)));
            std::cerr << "--- " << name << ":\n" << in.rdbuf() << "\n";
        }
    }
    CHECK(missing == 0);
    CHECK(to_write >= Ms{0});
    CHECK(to_write <= 3000ms);
}

TEST_CASE("scenario 11b: vigilctl switchover of a Redis pair under write load", "[ha][replication][redis]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("redis").executable("/usr/bin/redis-server"));
    RedisPair p;
    Writer w;
    setup(p, w);
    w.mark();
    std::string out;
    const auto t0 = Clock::now();
    REQUIRE(p.v->ctl({"switchover", "cache-replica"}, &out) == 0);
    const auto took = std::chrono::duration_cast<Ms>(Clock::now() - t0);
    REQUIRE(w.wait_more(200, 20s));
    CHECK(p.wait_status("cache", "replica of cache-replica, sync", 60s));
    CHECK(p.wait_status("cache-replica", "primary, asynchronous, replica in sync", 30s));
    w.finish();
    const long missing = lost(p.port_b, w);
    // The write pause is the longest gap: the writer cannot tell which
    // server answered through the listener, so no "first write" here.
    std::cout << "scenario 11b: redis switchover " << took.count() << " ms (vigilctl); longest write gap "
              << w.longest_gap.count() << " ms; acknowledged " << w.acked.size() << " of " << w.attempts
              << " SETs, lost " << missing << "\n";
    CHECK(missing == 0);
    CHECK(w.longest_gap <= 1000ms);
}

TEST_CASE("scenario 11c: the Redis replica killed: writes go on, it resynchronises and is in sync again",
          "[ha][replication][redis]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("redis").executable("/usr/bin/redis-server"));
    RedisPair p;
    Writer w;
    setup(p, w);
    const pid_t pid = p.pid("cache-replica");
    REQUIRE(pid > 0);
    w.mark();
    const auto killed = Clock::now();
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(p.v->expect("replication is asynchronous and cache-replica stopped: not promoted automatically", 10s));
    const auto out_of_sync = std::chrono::duration_cast<Ms>(Clock::now() - killed);
    REQUIRE(w.wait_more(200, 10s));  // the master never waits for a replica
    REQUIRE(p.v->expect("replication: cache-replica is in sync with cache", 60s));
    const auto in_sync = std::chrono::duration_cast<Ms>(Clock::now() - killed);
    CHECK(p.wait_status("cache", "primary, asynchronous, replica in sync", 10s));
    w.finish();
    const long missing = lost(p.port_a, w);
    std::cout << "scenario 11c: redis replica kill -9 -> out of sync " << out_of_sync.count() << " ms, in sync again "
              << in_sync.count() << " ms; longest write gap " << w.longest_gap.count() << " ms; acknowledged "
              << w.acked.size() << " of " << w.attempts << " SETs, lost " << missing << "\n";
    CHECK(missing == 0);
    CHECK(w.longest_gap <= 1000ms);
}

// /metrics shows a Redis pair as it does a PostgreSQL one (docs/replication.md,
// "What you see": synchronous means a replica in sync at the last poll), the
// roles follow a switchover, and a stopped replica is not streaming.
TEST_CASE("metrics: a Redis pair's replication series: in sync, switched over, replica stopped",
          "[ha][replication][redis]") {
    VIGIL_SKIP_UNLESS(Prerequisites().root().user("redis").executable("/usr/bin/redis-server"));
    RedisPair p;
    check_metrics_across_switchover(*p.v, "cache", "cache-replica", "primary, asynchronous, replica in sync",
                                    "primary, asynchronous, no replica in sync");
}
