// The PostgreSQL startup handshake, reduced to what pg_isready needs: the
// StartupMessage a client sends first, and the reading of the server's
// answer into "accepting connections" or not. Pure bytes in, verdict out, so
// the health probe needs no libpq (which drags some twenty shared libraries,
// 3.4 MB of resident pages, into vigild) and the parser is fuzzed and
// unit-tested on its own.
//
// The verdicts follow libpq's PQping():
//   AuthenticationOk … ReadyForQuery        accepting        healthy
//   an authentication request (password,    accepting        healthy
//     md5, SCRAM, GSS …): we have none
//   ErrorResponse SQLSTATE 57P03            not accepting    unhealthy
//     (starting up, shutting down, in
//     recovery, hot standby not ready)
//   any other ErrorResponse (unknown role,  accepting        healthy
//     no such database, too many clients)
//   bytes that are not the v3 protocol      bad reply        unhealthy
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vigil::core::pg {

// Protocol 3.0 StartupMessage carrying user, database and application_name.
std::string startup_message(std::string_view user, std::string_view database, std::string_view application);

// Terminate ('X'): sent after ReadyForQuery so the backend ends without
// logging an unexpected EOF.
inline constexpr std::string_view kTerminate{"X\0\0\0\4", 5};

// Server messages larger than this are not a handshake (an ErrorResponse is a
// few hundred bytes): the reader gives up rather than buffer without bound.
inline constexpr std::size_t kMaxMessage = 16 * 1024;

enum class Verdict { need_more, accepting, not_accepting, bad_reply };

struct Judgement {
    Verdict verdict = Verdict::need_more;
    std::string detail;           // "accepting connections (FATAL:  3D000: database … does not exist)"
    bool send_terminate = false;  // the session is open: say goodbye before closing
};

// Reads the server's side of the handshake as it arrives, in any split.
class HandshakeReader {
public:
    // Takes the next bytes; returns need_more until the answer is known,
    // then the same verdict for every later call.
    Judgement feed(std::string_view bytes);

private:
    Judgement judge_message(char type, std::string_view body);

    std::string buffer_;
    Judgement done_;
};

}  // namespace vigil::core::pg
