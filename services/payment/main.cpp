// payment-service: the payment system's payment service. Settings come from the environment
// that vigild passes (docs/services.md lists them).
#include <cstdio>
#include <exception>

#include "http_server.hpp"
#include "log.hpp"
#include "payment_api.hpp"
#include "util.hpp"

using namespace vigil::services;

int main() {
    try {
        payment::PaymentSettings settings;
        settings.service_name = env_or("SERVICE_NAME", "payment-service");

        ServerOptions options;
        options.bind = env_or("BIND", "127.0.0.1");
        options.port = static_cast<std::uint16_t>(env_uint("PORT", 3002, 0, 65535));
        options.workers = static_cast<unsigned>(env_uint("WORKERS", 4, 1, 64));

        std::string database_url = env_or("DATABASE_URL", "");
        if (database_url.empty()) throw std::runtime_error("DATABASE_URL is not set");
        std::string auth_url = env_or("AUTH_URL", "");
        auto auth_base = parse_url(auth_url);
        if (!auth_base) throw std::runtime_error("AUTH_URL='" + auth_url + "': expected http[s]://host[:port][/path]");
        ClientOptions client;
        client.timeout = std::chrono::milliseconds(env_uint("AUTH_TIMEOUT_MS", 2000, 50, 60'000));
        client.ca_file = env_or("AUTH_CA_FILE", "");
        auto redis_timeout = std::chrono::milliseconds(env_uint("REDIS_TIMEOUT_MS", 250, 10, 10'000));
        auto token_cache_ttl = static_cast<long long>(env_uint("TOKEN_CACHE_TTL", 60, 0, 3600));

        RedisClient redis(env_or("REDIS_URL", "redis://127.0.0.1:6379"), redis_timeout);
        auto db_timeout = std::chrono::milliseconds(env_uint("DB_TIMEOUT_MS", 3000, 100, 60'000));
        PgPool db(database_url, options.workers, payment::create_schema, db_timeout);
        try {
            db.run([](PgConn& c) { return c.exec("SELECT 1") != nullptr; });
        } catch (const DbError&) {
            // Started anyway: /health says 503 until the database answers.
        }
        redis.ping();

        payment::TokenValidator tokens(redis, *auth_base, client, token_cache_ttl);
        payment::PaymentApi api(db, redis, tokens, settings);
        HttpServer server(options, [&api](const Request& req) { return api.handle(req); });
        service_log().info("{} listening on {}:{} ({} workers)", settings.service_name, options.bind, server.port(),
                           options.workers);
        server.run();
        service_log().info("{} stopped", settings.service_name);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "payment-service: %s\n", e.what());
        return 1;
    }
}
