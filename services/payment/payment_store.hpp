// Payments in postgres-b. The database, not Redis, decides idempotency:
// the key is a UNIQUE column of the payment row itself, written by one
// INSERT (its own transaction), so a key can never map to two payments,
// with or without Redis, and with concurrent retries of the same request.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "pg.hpp"

namespace vigil::services::payment {

struct NewPayment {
    std::string idempotency_key;
    std::string user;
    long long amount_cents = 0;
    std::string currency;
    std::optional<std::string> description;

    // Fingerprint of what was asked, so that a replay with a different body
    // is told apart from a genuine retry.
    std::string request_hash() const;
};

struct StoredPayment {
    std::string id;
    std::string user;
    long long amount_cents = 0;
    std::string currency;
    std::optional<std::string> description;
    std::string status;
    std::string created_at;  // ISO-8601 UTC
    std::string request_hash;

    nlohmann::ordered_json to_json() const;  // the API's view: no user, no hash
};

struct CreateOutcome {
    enum class Kind { created, replayed, key_reused } kind = Kind::created;
    StoredPayment payment;  // created or replayed
};

void create_schema(PgConn& conn);

class PaymentStore {
public:
    explicit PaymentStore(PgPool& db) : db_(db) {}

    // Returns only after COMMIT; throws DbError when the database is
    // unreachable, in which case nothing is known to be stored and the
    // client must retry with the same key.
    CreateOutcome create(const NewPayment& payment);

    // nullopt when there is no such payment; throws DbError.
    std::optional<StoredPayment> find(const std::string& id);

private:
    PgPool& db_;
};

}  // namespace vigil::services::payment
