// hiredis, the way payment-service uses it: one synchronous connection
// behind a mutex, with short timeouts, that reconnects by itself.
//
// Redis is a cache here, never the source of truth, so every call reports
// "unavailable" (nullopt) instead of throwing, and callers fall back. After
// a failed connect, further attempts are skipped for `retry_after` so that
// a dead Redis costs requests nothing; ping() (the health check) always
// tries for real.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct redisContext;

namespace vigil::services {

struct RedisReply {
    enum class Type { nil, string, integer, status, error, array } type = Type::nil;
    std::string text;        // string, status and error replies
    long long integer = 0;
};

class RedisClient {
public:
    // url: redis://[[user]:password@]host[:port][/db]; throws
    // std::runtime_error when it does not parse.
    RedisClient(const std::string& url, std::chrono::milliseconds timeout,
                std::chrono::milliseconds retry_after = std::chrono::milliseconds(500));
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    // nullopt: Redis unreachable (or the connection broke mid-command).
    std::optional<RedisReply> command(const std::vector<std::string>& argv);

    // nullopt: unreachable; an empty inner optional: no such key.
    std::optional<std::optional<std::string>> get(const std::string& key);
    bool set_ex(const std::string& key, const std::string& value, long long ttl_seconds);
    bool ping();

private:
    std::optional<RedisReply> command_locked(const std::vector<std::string>& argv, bool force);
    bool connect_locked(bool force);
    void disconnect_locked(const char* why);

    std::string host_;
    int port_ = 6379;
    std::string user_;
    std::string password_;
    int db_ = 0;
    std::chrono::milliseconds timeout_;
    std::chrono::milliseconds retry_after_;
    std::mutex mutex_;
    redisContext* ctx_ = nullptr;
    std::chrono::steady_clock::time_point next_attempt_{};
    bool was_up_ = true;  // only transitions are logged
};

}  // namespace vigil::services
