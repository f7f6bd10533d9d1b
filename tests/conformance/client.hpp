// The raw client of the conformance suite: runs a script of steps (send these
// bytes, in these pieces; read a response; wait for 100 Continue) on one TCP
// connection to 127.0.0.1 and returns what came back. Responses are read with
// this file's own parser, not proxy/http_parse.*, so a bug there cannot hide
// in both the proxy and the test.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace conformance {

using namespace std::chrono_literals;

struct Step {
    enum class Kind { send, read, read_head, expect_100, half_close } kind = Kind::send;
    std::string bytes;
    // Where `bytes` is cut into separate writes (offsets); `bytewise` writes
    // one byte at a time. Writes are paced (pace_us) so that each arrives on
    // its own, as a slow client's would.
    std::vector<std::size_t> cuts;
    bool bytewise = false;
};

// Script helpers, so sequences read as what the client does.
Step send(std::string bytes);
Step send_split(std::string bytes, std::vector<std::size_t> cuts);
Step send_bytewise(std::string bytes);
Step read();       // one final response (interim 1xx are counted and skipped)
Step read_head();  // the response to a HEAD request (no body whatever it says)
Step expect_100(); // an interim 100 Continue, before the client sends a body
Step half_close(); // shutdown(SHUT_WR): the client sends nothing more but still reads

struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names; repeated ones joined by ", "
    std::string body;                            // decoded
    std::string framing;                         // "length", "chunked", "close", "none"
    bool keep_alive = true;                      // what the response said
    int interim = 0;                             // 1xx responses skipped before it
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? "" : it->second;
    }
    bool from_backend() const { return header("x-from") == "backend"; }
};

struct Outcome {
    std::vector<Reply> replies;
    bool closed = false;  // EOF seen (awaited only with probe_close)
    std::string error;    // a step that could not complete: "read 2: timeout", …
    std::string extra;    // bytes received beyond the responses read
    Reply probe;          // the answer to the probe request, when one was sent
};

// Runs `steps` on a fresh connection. A `read` that fails stops the script
// (error set). Then, when `probe_close` is true, waits (deadline) for the
// proxy to close the connection; otherwise, if the connection is still open
// and the last response did not say Connection: close, sends `probe` (a
// request, if not empty) on it and reads its answer into Outcome::probe.
// (After a Connection: close a client closes; the proxy may linger.)
Outcome run_script(int port, const std::vector<Step>& steps, bool probe_close, const std::string& probe,
                   std::chrono::milliseconds timeout = 3000ms);

// One request on a fresh connection, one response.
Reply one_request(int port, const std::string& bytes, bool head = false);

std::string describe(const Outcome& o);  // for failure messages

}  // namespace conformance
