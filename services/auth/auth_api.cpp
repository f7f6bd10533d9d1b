#include "auth_api.hpp"

#include <algorithm>

#include "json_body.hpp"
#include "log.hpp"
#include "password.hpp"
#include "util.hpp"

namespace vigil::services::auth {
namespace {

using json = ResponseJson;

constexpr std::size_t kMaxUsername = 64;
constexpr std::size_t kMinPassword = 8;
constexpr std::size_t kMaxPassword = 256;  // bounds the hashing work one request can ask for

bool valid_username(const std::string& name) {
    return !name.empty() && name.size() <= kMaxUsername &&
           std::all_of(name.begin(), name.end(), [](unsigned char c) {
               return std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '@';
           });
}

// A token is 32 random bytes as 64 lowercase hex digits; anything else is
// rejected without a database round trip.
bool well_formed_token(const std::string& token) {
    return token.size() == 64 &&
           std::all_of(token.begin(), token.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct Credentials {
    std::string username;
    std::string password;
};

// nullopt + the 400 to send when the body is not {"username","password"}.
std::optional<Credentials> read_credentials(const Request& req, Response& error) {
    auto body = parse_json_object(req.body);
    if (!body) {
        error = Response::error(400, "body must be a JSON object");
        return std::nullopt;
    }
    auto username = string_member(*body, "username");
    auto password = string_member(*body, "password");
    if (!username || !valid_username(*username)) {
        error = Response::error(400, "username: 1-64 characters of A-Z a-z 0-9 _ - . @");
        return std::nullopt;
    }
    if (!password || password->size() < kMinPassword || password->size() > kMaxPassword) {
        error = Response::error(400, "password: 8-256 characters");
        return std::nullopt;
    }
    return Credentials{std::move(*username), std::move(*password)};
}

Response unavailable() { return Response::error(503, "database unavailable"); }

Response method_not_allowed(const char* allow) {
    auto res = Response::error(405, "method not allowed");
    res.headers.emplace_back("Allow", allow);
    return res;
}

}  // namespace

void create_schema(PgConn& conn) {
    conn.exec("BEGIN");
    conn.exec("SELECT pg_advisory_xact_lock(hashtext('vigil-auth-service-schema'))");
    conn.exec(R"(CREATE TABLE IF NOT EXISTS users (
        id            BIGSERIAL PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at    TIMESTAMPTZ NOT NULL DEFAULT now()))");
    // Only a SHA-256 of each token is stored: a copy of the table does not
    // hold usable bearer credentials.
    conn.exec(R"(CREATE TABLE IF NOT EXISTS tokens (
        token_hash TEXT PRIMARY KEY,
        user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at TIMESTAMPTZ NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()))");
    conn.exec("CREATE INDEX IF NOT EXISTS tokens_user_id ON tokens(user_id)");
    conn.exec("COMMIT");
}

Response AuthApi::handle(const Request& req) {
    const std::string& path = req.path;
    if (path == "/health" || path == "/auth/health") {
        return req.method == "GET" ? health() : method_not_allowed("GET");
    }
    if (path == "/auth/register") return req.method == "POST" ? register_user(req) : method_not_allowed("POST");
    if (path == "/auth/login") return req.method == "POST" ? login(req) : method_not_allowed("POST");
    if (path == "/auth/validate") return req.method == "GET" ? validate(req) : method_not_allowed("GET");
    return Response::error(404, "not found");
}

Response AuthApi::health() {
    bool connected = false;
    try {
        connected = db_.run([](PgConn& c) { return c.exec("SELECT 1") != nullptr; });
    } catch (const DbError&) {
    }
    json body = {{"status", connected ? "ok" : "unavailable"},
                 {"timestamp", iso8601_now()},
                 {"service", settings_.service_name},
                 {"database", connected ? "connected" : "disconnected"}};
    return Response::json(connected ? 200 : 503, dump(body));
}

Response AuthApi::register_user(const Request& req) {
    Response error;
    auto creds = read_credentials(req, error);
    if (!creds) return error;
    // Hashing happens before taking a database connection: it is the slow
    // part, and connections are shared by all workers.
    std::string hash = hash_password(creds->password, settings_.pbkdf2_iterations);
    try {
        auto id = db_.run([&](PgConn& c) -> std::optional<std::string> {
            auto r = c.exec(
                "INSERT INTO users (username, password_hash) VALUES ($1, $2) "
                "ON CONFLICT (username) DO NOTHING RETURNING id",
                {creds->username, hash});
            if (PQntuples(r.get()) == 0) return std::nullopt;
            return pg_value(r, 0, 0);
        });
        if (!id) return Response::error(409, "username already registered");
        json body = {{"id", std::stoll(*id)}, {"username", creds->username}};
        return Response::json(201, dump(body));
    } catch (const DbError&) {
        return unavailable();
    }
}

Response AuthApi::login(const Request& req) {
    Response error;
    auto creds = read_credentials(req, error);
    if (!creds) return error;
    try {
        struct Row {
            std::string id, hash;
        };
        auto row = db_.run([&](PgConn& c) -> std::optional<Row> {
            auto r = c.exec("SELECT id, password_hash FROM users WHERE username = $1", {creds->username});
            if (PQntuples(r.get()) == 0) return std::nullopt;
            return Row{pg_value(r, 0, 0), pg_value(r, 0, 1)};
        });
        if (!row) {
            burn_password_time(creds->password, settings_.pbkdf2_iterations);
            return Response::error(401, "invalid username or password");
        }
        if (!verify_password(creds->password, row->hash)) return Response::error(401, "invalid username or password");

        std::string token = random_hex(32);
        db_.run([&](PgConn& c) {
            // Expired tokens of this user are swept here, so the table stays
            // bounded without a background job.
            c.exec("DELETE FROM tokens WHERE user_id = $1 AND expires_at <= now()", {row->id});
            c.exec("INSERT INTO tokens (token_hash, user_id, expires_at) "
                   "VALUES ($1, $2, now() + make_interval(secs => $3))",
                   {sha256_hex(token), row->id, std::to_string(settings_.token_ttl_s)});
            return true;
        });
        json body = {{"token", token}, {"token_type", "Bearer"}, {"expires_in", settings_.token_ttl_s}};
        return Response::json(200, dump(body));
    } catch (const DbError&) {
        return unavailable();
    }
}

Response AuthApi::validate(const Request& req) {
    auto token = bearer_token(req);
    if (!token || !well_formed_token(*token)) return Response::error(401, "invalid or expired token");
    try {
        struct Row {
            std::string user, expires_in;
        };
        auto row = db_.run([&](PgConn& c) -> std::optional<Row> {
            auto r = c.exec(
                "SELECT u.username, GREATEST(1, floor(extract(epoch FROM t.expires_at - now())))::bigint "
                "FROM tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.token_hash = $1 AND t.expires_at > now()",
                {sha256_hex(*token)});
            if (PQntuples(r.get()) == 0) return std::nullopt;
            return Row{pg_value(r, 0, 0), pg_value(r, 0, 1)};
        });
        if (!row) return Response::error(401, "invalid or expired token");
        json body = {{"user", row->user}, {"expires_in", std::stoll(row->expires_in)}};
        return Response::json(200, dump(body));
    } catch (const DbError&) {
        return unavailable();
    }
}

}  // namespace vigil::services::auth
