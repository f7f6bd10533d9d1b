// PostgreSQL's simple query protocol, as much as vigild's replication manager
// needs: a Query message out, the server's messages in (rows, errors,
// ReadyForQuery), parsed from bytes in any split. Pure, so vigild speaks to
// its own trust-authenticated local servers without libpq, which would map
// some twenty shared libraries (OpenSSL among them) into every vigild; the
// reader is fuzzed with the handshake's (tests/fuzz/pg_handshake_fuzz.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::core::pg {

// 'Q': one or more statements, run as one implicit transaction each.
std::string query_message(std::string_view sql);

// What a message from the server means to a simple-query client.
struct ServerMessage {
    enum class Kind {
        auth_ok,       // AuthenticationOk
        auth_request,  // any other authentication request: `code` says which
        error,         // ErrorResponse: `text` is "SQLSTATE: message"
        row,           // DataRow: `row` (NULL as "")
        ready,         // ReadyForQuery: the exchange is over
        other,         // ParameterStatus, BackendKeyData, RowDescription, notices …
    } kind = Kind::other;
    unsigned code = 0;
    std::string text;
    std::vector<std::string> row;
};

// Reads server messages as they arrive. next() returns false until a whole
// message is buffered; `bad` is set (and stays) on bytes that are not the
// v3 protocol or a message over kMaxQueryMessage.
class QueryReader {
public:
    static constexpr std::size_t kMaxQueryMessage = 1 << 20;
    void feed(std::string_view bytes) { buffer_.append(bytes); }
    bool next(ServerMessage& out);
    bool bad() const noexcept { return !bad_.empty(); }
    const std::string& why_bad() const noexcept { return bad_; }

private:
    std::string buffer_;
    std::size_t at_ = 0;
    std::string bad_;
};

}  // namespace vigil::core::pg
