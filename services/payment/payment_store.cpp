#include "payment_store.hpp"

#include "util.hpp"

namespace vigil::services::payment {
namespace {

constexpr const char* kColumns =
    "id, username, amount_cents, currency, description, status, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), request_hash";

StoredPayment read_row(const PgResult& r, int row) {
    StoredPayment p;
    p.id = pg_value(r, row, 0);
    p.user = pg_value(r, row, 1);
    p.amount_cents = std::stoll(pg_value(r, row, 2));
    p.currency = pg_value(r, row, 3);
    if (!pg_is_null(r, row, 4)) p.description = pg_value(r, row, 4);
    p.status = pg_value(r, row, 5);
    p.created_at = pg_value(r, row, 6);
    p.request_hash = pg_value(r, row, 7);
    return p;
}

}  // namespace

std::string NewPayment::request_hash() const {
    // Length-prefixed fields: no two different requests serialise alike.
    std::string canon;
    for (const std::string& field : {user, std::to_string(amount_cents), currency, description.value_or("")}) {
        canon += std::to_string(field.size()) + ":" + field + ";";
    }
    canon += description ? "d" : "-";
    return sha256_hex(canon);
}

nlohmann::ordered_json StoredPayment::to_json() const {
    nlohmann::ordered_json j = {{"id", id},         {"amount_cents", amount_cents}, {"currency", currency},
                        {"status", status}, {"created_at", created_at}};
    if (description) j["description"] = *description;
    return j;
}

void create_schema(PgConn& conn) {
    conn.exec("BEGIN");
    conn.exec("SELECT pg_advisory_xact_lock(hashtext('vigil-payment-service-schema'))");
    conn.exec(R"(CREATE TABLE IF NOT EXISTS payments (
        id              TEXT PRIMARY KEY,
        idempotency_key TEXT NOT NULL UNIQUE,
        request_hash    TEXT NOT NULL,
        username        TEXT NOT NULL,
        amount_cents    BIGINT NOT NULL CHECK (amount_cents > 0),
        currency        CHAR(3) NOT NULL,
        description     TEXT,
        status          TEXT NOT NULL,
        created_at      TIMESTAMPTZ NOT NULL DEFAULT now()))");
    conn.exec("COMMIT");
}

CreateOutcome PaymentStore::create(const NewPayment& payment) {
    const std::string id = "pay_" + random_hex(16);
    const std::string hash = payment.request_hash();
    return db_.run([&](PgConn& c) {
        // ON CONFLICT DO NOTHING waits for a concurrent insert of the same
        // key to commit, then yields no row; the SELECT below (a new
        // snapshot under READ COMMITTED) then sees the winner.
        auto inserted = c.exec(
            (std::string("INSERT INTO payments (id, idempotency_key, request_hash, username, amount_cents, currency, "
                        "description, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'captured') "
                        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING ") +
                kColumns)
                .c_str(),
            {id, payment.idempotency_key, hash, payment.user, std::to_string(payment.amount_cents), payment.currency,
             payment.description});
        CreateOutcome out;
        if (PQntuples(inserted.get()) == 1) {
            out.payment = read_row(inserted, 0);
            return out;
        }
        auto existing = c.exec((std::string("SELECT ") + kColumns + " FROM payments WHERE idempotency_key = $1").c_str(),
                               {payment.idempotency_key});
        if (PQntuples(existing.get()) != 1) throw DbError("idempotency key vanished after a conflict", "");
        out.payment = read_row(existing, 0);
        out.kind = out.payment.request_hash == hash ? CreateOutcome::Kind::replayed : CreateOutcome::Kind::key_reused;
        return out;
    });
}

std::optional<StoredPayment> PaymentStore::find(const std::string& id) {
    return db_.run([&](PgConn& c) -> std::optional<StoredPayment> {
        auto r = c.exec((std::string("SELECT ") + kColumns + " FROM payments WHERE id = $1").c_str(), {id});
        if (PQntuples(r.get()) != 1) return std::nullopt;
        return read_row(r, 0);
    });
}

}  // namespace vigil::services::payment
