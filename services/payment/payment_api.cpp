#include "payment_api.hpp"

#include <algorithm>

#include "json_body.hpp"
#include "log.hpp"
#include "util.hpp"

namespace vigil::services::payment {
namespace {

using json = ResponseJson;

constexpr long long kMaxAmountCents = 100'000'000'000;  // 1e9 in major units: a typo guard, not a policy
constexpr std::size_t kMaxDescription = 500;
constexpr std::size_t kMaxIdempotencyKey = 255;

Response method_not_allowed(const char* allow) {
    auto res = Response::error(405, "method not allowed");
    res.headers.emplace_back("Allow", allow);
    return res;
}

bool valid_idempotency_key(std::string_view key) {
    return !key.empty() && key.size() <= kMaxIdempotencyKey &&
           std::all_of(key.begin(), key.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

bool valid_payment_id(std::string_view id) {
    return id.size() == 36 && id.starts_with("pay_") &&
           std::all_of(id.begin() + 4, id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Fills `out` from the body, or returns the 400 message.
std::optional<std::string> parse_payment(const std::string& text, NewPayment& out) {
    auto body = parse_json_object(text);
    if (!body) return "body must be a JSON object";
    auto amount = body->find("amount_cents");
    if (amount == body->end() || !amount->is_number_integer()) return "amount_cents: an integer is required";
    // Unsigned first: a huge literal must not wrap into a small amount.
    const bool in_range = amount->is_number_unsigned()
                              ? amount->get<unsigned long long>() - 1 < static_cast<unsigned long long>(kMaxAmountCents)
                              : amount->get<long long>() > 0 && amount->get<long long>() <= kMaxAmountCents;
    if (!in_range) return "amount_cents: must be between 1 and 100000000000";
    out.amount_cents = amount->get<long long>();
    auto currency = string_member(*body, "currency");
    if (!currency || currency->size() != 3 ||
        !std::all_of(currency->begin(), currency->end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
        return "currency: three upper-case letters (ISO 4217), e.g. EUR";
    }
    out.currency = *currency;
    if (auto d = body->find("description"); d != body->end() && !d->is_null()) {
        if (!d->is_string() || d->get_ref<const std::string&>().size() > kMaxDescription) {
            return "description: a string of at most 500 bytes";
        }
        out.description = d->get<std::string>();
    }
    return std::nullopt;
}

Response payment_response(int status, const StoredPayment& p, bool replay) {
    auto res = Response::json(status, dump(p.to_json()));
    if (replay) res.headers.emplace_back("Idempotent-Replay", "true");
    return res;
}

}  // namespace

Response PaymentApi::handle(const Request& req) {
    const std::string& path = req.path;
    if (path == "/health" || path == "/payments/health") {
        return req.method == "GET" ? health() : method_not_allowed("GET");
    }
    if (path == "/payments" || path == "/payments/") {
        return req.method == "POST" ? create(req) : method_not_allowed("POST");
    }
    if (path.starts_with("/payments/")) {
        std::string id = path.substr(std::string_view("/payments/").size());
        return req.method == "GET" ? get(req, id) : method_not_allowed("GET");
    }
    return Response::error(404, "not found");
}

Response PaymentApi::health() {
    bool database = false;
    try {
        database = db_.run([](PgConn& c) { return c.exec("SELECT 1") != nullptr; });
    } catch (const DbError&) {
    }
    // Redis down is degraded, not down: tokens fall back to auth-service and
    // idempotency to the database (docs/services.md, "Redis stops").
    bool redis = redis_.ping();
    const char* status = !database ? "unavailable" : redis ? "ok" : "degraded";
    json body = {{"status", status},
                 {"timestamp", iso8601_now()},
                 {"service", settings_.service_name},
                 {"database", database ? "connected" : "disconnected"},
                 {"redis", redis ? "connected" : "disconnected"}};
    return Response::json(database ? 200 : 503, dump(body));
}

std::optional<Response> PaymentApi::authenticate(const Request& req, std::string& user) {
    auto token = bearer_token(req);
    if (!token) return Response::error(401, "missing bearer token");
    auto check = tokens_.check(*token);
    switch (check.outcome) {
        case TokenCheck::Outcome::valid: user = std::move(check.user); return std::nullopt;
        case TokenCheck::Outcome::invalid: return Response::error(401, "invalid or expired token");
        case TokenCheck::Outcome::unavailable: return Response::error(503, "token validation unavailable");
    }
    return Response::error(503, "token validation unavailable");
}

Response PaymentApi::create(const Request& req) {
    NewPayment payment;
    if (auto denied = authenticate(req, payment.user)) return *denied;

    auto key = req.header("idempotency-key");
    if (!key) return Response::error(400, "Idempotency-Key header is required");
    if (!valid_idempotency_key(*key)) return Response::error(400, "Idempotency-Key: 1-255 visible ASCII characters");
    payment.idempotency_key = std::string(*key);
    if (auto problem = parse_payment(req.body, payment)) return Response::error(400, *problem);

    // Fast path for retries: a payment already committed under this key is
    // answered from Redis. A miss, or Redis down, goes to the database,
    // which decides on its own.
    const std::string hash = payment.request_hash();
    const std::string cache_key = "idem:" + sha256_hex(payment.idempotency_key);
    if (auto cached = redis_.get(cache_key); cached && *cached) {
        auto entry = json::parse(**cached, nullptr, false);
        if (entry.is_object() && entry.value("request_hash", "") == hash && entry.contains("payment")) {
            auto res = Response::json(200, dump(entry["payment"]));
            res.headers.emplace_back("Idempotent-Replay", "true");
            return res;
        }
    }

    CreateOutcome outcome;
    try {
        outcome = store_.create(payment);
    } catch (const DbError&) {
        return Response::error(503, "database unavailable");
    }
    if (outcome.kind == CreateOutcome::Kind::key_reused) {
        return Response::error(422, "Idempotency-Key was already used with a different request");
    }
    json entry = {{"request_hash", hash}, {"payment", outcome.payment.to_json()}};
    redis_.set_ex(cache_key, dump(entry), settings_.idempotency_cache_ttl_s);
    const bool replay = outcome.kind == CreateOutcome::Kind::replayed;
    return payment_response(replay ? 200 : 201, outcome.payment, replay);
}

Response PaymentApi::get(const Request& req, const std::string& id) {
    std::string user;
    if (auto denied = authenticate(req, user)) return *denied;
    if (!valid_payment_id(id)) return Response::error(404, "no such payment");
    try {
        auto found = store_.find(id);
        // Another user's payment is reported as missing, not forbidden: ids
        // must not be probeable.
        if (!found || found->user != user) return Response::error(404, "no such payment");
        return payment_response(200, *found, false);
    } catch (const DbError&) {
        return Response::error(503, "database unavailable");
    }
}

}  // namespace vigil::services::payment
