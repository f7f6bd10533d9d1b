#include "redis.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <stdexcept>

#include "log.hpp"

namespace vigil::services {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

int parse_int(std::string_view text, const std::string& url) {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
        throw std::runtime_error("REDIS_URL '" + url + "': bad number '" + std::string(text) + "'");
    }
    return value;
}

RedisReply convert(const redisReply* r) {
    RedisReply out;
    switch (r->type) {
        case REDIS_REPLY_STRING: out.type = RedisReply::Type::string; break;
        case REDIS_REPLY_STATUS: out.type = RedisReply::Type::status; break;
        case REDIS_REPLY_ERROR: out.type = RedisReply::Type::error; break;
        case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::integer; break;
        case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::array; break;
        default: out.type = RedisReply::Type::nil; break;
    }
    if (r->str) out.text.assign(r->str, r->len);
    out.integer = r->integer;
    return out;
}

}  // namespace

RedisClient::RedisClient(const std::string& url, std::chrono::milliseconds timeout,
                         std::chrono::milliseconds retry_after)
    : timeout_(timeout), retry_after_(retry_after) {
    constexpr std::string_view scheme = "redis://";
    std::string_view rest(url);
    if (rest.substr(0, scheme.size()) != scheme) throw std::runtime_error("REDIS_URL '" + url + "': expected redis://");
    rest.remove_prefix(scheme.size());
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        if (slash + 1 < rest.size()) db_ = parse_int(rest.substr(slash + 1), url);
        rest = rest.substr(0, slash);
    }
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        auto credentials = rest.substr(0, at);
        rest.remove_prefix(at + 1);
        auto colon = credentials.find(':');
        if (colon == std::string_view::npos) {
            password_ = std::string(credentials);
        } else {
            user_ = std::string(credentials.substr(0, colon));
            password_ = std::string(credentials.substr(colon + 1));
        }
    }
    if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        port_ = parse_int(rest.substr(colon + 1), url);
        rest = rest.substr(0, colon);
    }
    host_ = std::string(rest);
    if (host_.empty()) throw std::runtime_error("REDIS_URL '" + url + "': no host");
}

RedisClient::~RedisClient() {
    if (ctx_) redisFree(ctx_);
}

void RedisClient::disconnect_locked(const char* why) {
    if (ctx_) {
        redisFree(ctx_);
        ctx_ = nullptr;
    }
    next_attempt_ = std::chrono::steady_clock::now() + retry_after_;
    if (was_up_) service_log().warn("redis unavailable: {}", why);
    was_up_ = false;
}

bool RedisClient::connect_locked(bool force) {
    if (ctx_) return true;
    if (!force && std::chrono::steady_clock::now() < next_attempt_) return false;
    ctx_ = redisConnectWithTimeout(host_.c_str(), port_, to_timeval(timeout_));
    if (!ctx_ || ctx_->err) {
        std::string why = ctx_ ? ctx_->errstr : "out of memory";
        disconnect_locked(why.c_str());
        return false;
    }
    redisSetTimeout(ctx_, to_timeval(timeout_));
    auto handshake = [&](const std::vector<std::string>& argv) {
        std::vector<const char*> args;
        std::vector<size_t> lens;
        for (const auto& a : argv) {
            args.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()));
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (r) freeReplyObject(r);
        return ok;
    };
    bool ok = true;
    if (!password_.empty()) {
        ok = user_.empty() ? handshake({"AUTH", password_}) : handshake({"AUTH", user_, password_});
    }
    if (ok && db_ != 0) ok = handshake({"SELECT", std::to_string(db_)});
    if (!ok) {
        disconnect_locked("AUTH or SELECT refused");
        return false;
    }
    return true;
}

std::optional<RedisReply> RedisClient::command_locked(const std::vector<std::string>& argv, bool force) {
    std::vector<const char*> args;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    // A connection kept from before a Redis restart fails on first use;
    // one retry on a fresh connection hides that from the caller.
    for (int attempt = 0; attempt < 2; ++attempt) {
        bool reused = ctx_ != nullptr;
        if (!connect_locked(force || attempt > 0)) return std::nullopt;
        auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()));
        if (r) {
            RedisReply reply = convert(r);
            freeReplyObject(r);
            // Up only once Redis answers: behind vigil-proxy's TCP listener
            // the connect succeeds while no master is there (the listener
            // holds it), so a connect alone would flap "connected" through
            // a failover.
            if (!was_up_) service_log().info("redis connected");
            was_up_ = true;
            return reply;
        }
        std::string why = ctx_->errstr;
        disconnect_locked(why.c_str());
        if (!reused) break;
    }
    return std::nullopt;
}

std::optional<RedisReply> RedisClient::command(const std::vector<std::string>& argv) {
    std::lock_guard lock(mutex_);
    return command_locked(argv, false);
}

std::optional<std::optional<std::string>> RedisClient::get(const std::string& key) {
    auto reply = command({"GET", key});
    if (!reply || reply->type == RedisReply::Type::error) return std::nullopt;
    if (reply->type != RedisReply::Type::string) return std::optional<std::string>{};
    return std::optional<std::string>{std::move(reply->text)};
}

bool RedisClient::set_ex(const std::string& key, const std::string& value, long long ttl_seconds) {
    auto reply = command({"SET", key, value, "EX", std::to_string(ttl_seconds)});
    return reply && reply->type == RedisReply::Type::status;
}

bool RedisClient::ping() {
    std::lock_guard lock(mutex_);
    auto reply = command_locked({"PING"}, true);
    return reply && reply->type == RedisReply::Type::status && reply->text == "PONG";
}

}  // namespace vigil::services
