#include "supervisor/xmlrpc/basic_auth.hpp"

#include <array>
#include <cctype>
#include <string>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/uuid/detail/sha1.hpp>

namespace vigil::supervisor {
namespace {

using Digest = std::array<unsigned char, 20>;

Digest sha1(std::string_view s) {
    boost::uuids::detail::sha1 h;
    h.process_bytes(s.data(), s.size());
    boost::uuids::detail::sha1::digest_type words;
    h.get_digest(words);
    Digest out{};
    for (int i = 0; i < 5; ++i)
        for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<unsigned char>(words[i] >> (24 - 8 * b));
    return out;
}

// "{SHA}" + 40 hex digits → the digest; false for anything else.
bool sha_password(std::string_view stored, Digest& out) {
    if (stored.size() != 45 || stored.substr(0, 5) != "{SHA}") return false;
    for (std::size_t i = 0; i < 20; ++i) {
        auto nibble = [](char c) -> int {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        const int hi = nibble(stored[5 + 2 * i]), lo = nibble(stored[6 + 2 * i]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    return true;
}

bool same(const Digest& a, const Digest& b) {
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

}  // namespace

bool basic_auth_ok(std::string_view authorization, const config::Credentials& expected) {
    if (authorization.size() < 6 || authorization.size() > 4096) return false;
    std::string scheme(authorization.substr(0, 6));
    for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "basic ") return false;
    std::string_view b64 = authorization.substr(6);
    while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
    std::string decoded(boost::beast::detail::base64::decoded_size(b64.size()), '\0');
    const auto [written, read] = boost::beast::detail::base64::decode(decoded.data(), b64.data(), b64.size());
    decoded.resize(written);
    const std::size_t colon = decoded.find(':');
    if (colon == std::string::npos) return false;
    const std::string_view user = std::string_view(decoded).substr(0, colon);
    const std::string_view pass = std::string_view(decoded).substr(colon + 1);
    Digest want_pass{};
    if (!sha_password(expected.password, want_pass)) want_pass = sha1(expected.password);
    const bool user_ok = same(sha1(user), sha1(expected.username));
    const bool pass_ok = same(sha1(pass), want_pass);
    return user_ok & pass_ok;
}

}  // namespace vigil::supervisor
