// Redis replication (REPLICAOF): promotion with REPLICAOF NO ONE, the lag
// from INFO replication on the master and on each replica
// (core/redis_replication.hpp), no synchronous mode to switch: Redis
// replication is asynchronous (docs/replication.md says what that means).
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "supervisor/core/redis_replication.hpp"
#include "supervisor/replication/store.hpp"

namespace vigil::supervisor::replication {
namespace {

using namespace std::chrono_literals;
namespace redis = core::redis;

// Sends the commands in one write and reads one reply each. "" or why not;
// an error reply is an error.
std::string redis_exec(const Target& t, const std::vector<std::vector<std::string>>& commands,
                       std::vector<std::string>* replies, int timeout_s) {
    Fd s;
    if (auto e = connect_to(t, s, 2000, timeout_s); !e.empty()) return e;
    std::string req;
    for (const auto& c : commands) req += redis::command(c);
    if (auto e = send_all(s.fd, req); !e.empty()) return e;
    std::string buf;
    char tmp[16384];
    for (std::size_t i = 0; i < commands.size();) {
        std::size_t used = 0;
        std::string bad;
        if (auto r = redis::parse_reply(buf, used, bad)) {
            buf.erase(0, used);
            if (r->error) return commands[i][0] + ": " + r->text;
            if (replies) replies->push_back(std::move(r->text));
            ++i;
            continue;
        }
        if (!bad.empty()) return "redis: " + bad;
        const ssize_t n = ::recv(s.fd, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return "the server did not answer in time";
        if (n < 0) return std::string("recv: ") + std::strerror(errno);
        if (n == 0) return "the server closed the connection";
        buf.append(tmp, static_cast<std::size_t>(n));
    }
    return {};
}

// INFO replication, and the stats section too (sync_full) when `stats`.
std::string info_replication(const Target& t, redis::Info& info, int timeout_s, bool stats = false) {
    std::vector<std::string> replies;
    std::vector<std::string> command{"INFO", "replication"};
    if (stats) command.push_back("stats");
    std::string e = redis_exec(t, {command}, &replies, timeout_s);
    if (e.empty()) info = redis::parse_info(replies.at(0));
    return e;
}

class RedisStore final : public Store {
public:
    bool synchronous_capable() const override { return false; }

    std::string promote(const Target& t) const override { return redis_exec(t, {{"REPLICAOF", "NO", "ONE"}}, nullptr, 10); }

    // Nothing to switch: a Redis master never waits for a replica.
    std::string set_sync(const Target&, const std::string&) const override { return {}; }
    std::string set_async(const Target&) const override { return {}; }

    std::string wait_replayed(const Target& t) const override {
        std::string why = "no answer";
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < until) {
            redis::Info info;
            std::string e = info_replication(t, info, 5);
            if (e.empty() && redis::drained(info, why)) return {};
            if (!e.empty()) why = e;
            std::this_thread::sleep_for(10ms);  // a poll pace against the server
        }
        return "not drained within 10 s: " + why;
    }

    std::string poll(const Member& primary, const std::vector<Member>& replicas,
                     std::map<std::string, core::ReplicaLag>& lags) const override {
        redis::Info master;
        if (auto e = info_replication(primary.at, master, 2, true); !e.empty()) return e;
        // Each replica right after the master: its offset then is at least
        // the master's when it has everything.
        for (const auto& r : replicas) {
            redis::Info own;
            info_replication(r.at, own, 2);  // no answer: not streaming, as far as vigild can tell
            lags[r.name] = redis::replica_lag(master, own, r.at.host, r.at.port, primary.at.port);
        }
        return {};
    }

    // appendonly is on (config/kinds.cpp): the AOF's manifest, or at least an RDB.
    bool data_usable(const std::string& data_dir) const override {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(data_dir + "/appendonlydir", ec))
            if (e.path().extension() == ".manifest" && e.file_size(ec) > 0) return true;
        return std::filesystem::file_size(data_dir + "/dump.rdb", ec) > 0 && !ec;
    }
};

}  // namespace

std::unique_ptr<Store> make_redis_store() { return std::make_unique<RedisStore>(); }

}  // namespace vigil::supervisor::replication
