// auth-service: the payment system's authentication service. Settings come from the environment
// that vigild passes (docs/services.md lists them).
#include <cstdio>
#include <exception>

#include "auth_api.hpp"
#include "http_server.hpp"
#include "log.hpp"
#include "util.hpp"

using namespace vigil::services;

int main() {
    try {
        auth::AuthSettings settings;
        settings.service_name = env_or("SERVICE_NAME", "auth-service");
        settings.pbkdf2_iterations = static_cast<unsigned>(env_uint("PBKDF2_ITERATIONS", 100'000, 1'000, 10'000'000));
        settings.token_ttl_s = static_cast<long long>(env_uint("TOKEN_TTL", 3600, 60, 30 * 24 * 3600));

        ServerOptions options;
        options.bind = env_or("BIND", "127.0.0.1");
        options.port = static_cast<std::uint16_t>(env_uint("PORT", 3001, 0, 65535));
        options.workers = static_cast<unsigned>(env_uint("WORKERS", 4, 1, 64));
        std::string database_url = env_or("DATABASE_URL", "");
        if (database_url.empty()) throw std::runtime_error("DATABASE_URL is not set");

        // The schema is created by the first connection that works, at
        // start-up if the database is up, otherwise on the first request
        // after it comes up: the service starts (and reports 503) without it.
        auto db_timeout = std::chrono::milliseconds(env_uint("DB_TIMEOUT_MS", 3000, 100, 60'000));
        PgPool db(database_url, options.workers, auth::create_schema, db_timeout);
        try {
            db.run([](PgConn& c) { return c.exec("SELECT 1") != nullptr; });
        } catch (const DbError&) {
        }

        auth::AuthApi api(db, settings);
        HttpServer server(options, [&api](const Request& req) { return api.handle(req); });
        service_log().info("{} listening on {}:{} ({} workers)", settings.service_name, options.bind, server.port(),
                           options.workers);
        server.run();
        service_log().info("{} stopped", settings.service_name);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "auth-service: %s\n", e.what());
        return 1;
    }
}
