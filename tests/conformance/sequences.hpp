// The conformance sequences as data: what the client sends (and in which
// pieces), what the recording backend is asked to answer (the `r=` query of
// each target, see recorder.hpp), and what is expected of vigil-proxy:
//
//   same      vigil-proxy and nginx must agree: the client gets the same
//             statuses, keep-alive, bodies (and, for HEAD, Content-Length);
//             the backend receives the same requests (method, target, Host,
//             body, whether a body is framed), each once. (Not how: nginx
//             sends a chunked body it has whole with a Content-Length.)
//   refused   a malformed or smuggling request: vigil-proxy answers 400 and
//             closes, and the backend receives exactly the requests framed
//             before it (`framed`, by target), and at most the refused one
//             cut short. nginx must refuse it too, unless `nginx_differs`
//             says why vigil-proxy is stricter (docs/proxy.md, "Differences
//             from nginx"); either way nothing smuggled reaches the backend
//             through nginx either.
//   differs   vigil-proxy answers or relays differently on purpose;
//             `vigil_check` asserts what it must do, `nginx_differs` names
//             the entry of docs/proxy.md that says why.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "client.hpp"
#include "recorder.hpp"

namespace conformance {

// The --max-body / client_max_body_size both proxies run with.
inline constexpr std::size_t max_body = 1000;

enum class Expect { same, refused, differs };

struct Sequence {
    std::string group, name;
    std::vector<Step> steps;
    Expect expect = Expect::same;
    std::vector<std::string> framed = {};   // refused: targets the backend may see, in order
    const char* nginx_differs = nullptr;    // refused/differs: why vigil-proxy differs (docs)
    // differs: checks vigil-proxy's client outcome and what the backend received.
    std::function<void(const Outcome&, const std::vector<Received>&)> vigil_check = {};
};

const std::vector<Sequence>& sequences();  // all of them, in groups
std::vector<Sequence> exchange_sequences();   // sequences.cpp: same
std::vector<Sequence> refusal_sequences();    // refusals.cpp: refused and differs

// Request builders (Host: conformance).
std::string get(const std::string& target, const std::string& extra = "");
std::string request(const std::string& method, const std::string& target, const std::string& body,
                    const std::string& extra = "");
std::string chunked(const std::string& method, const std::string& target, const std::string& wire,
                    const std::string& extra = "");
std::string chunks(const std::vector<std::string>& parts, const std::string& trailers = "");

}  // namespace conformance
