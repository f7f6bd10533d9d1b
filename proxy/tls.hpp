// TLS termination settings and the demo certificate generator. Kept apart so
// only this file and session.cpp pay for <boost/asio/ssl.hpp>.
//
// Server contexts allow TLS 1.2 and 1.3 only, with Mozilla's "intermediate"
// TLS 1.2 cipher list (ECDHE + AES-GCM / ChaCha20-Poly1305) and OpenSSL's
// TLS 1.3 suites. A reload builds a new context: connections already open
// keep the one they started with (each session holds a shared_ptr to it).
#pragma once

#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace vigil::proxy {

std::shared_ptr<boost::asio::ssl::context> make_server_context(const std::string& cert_file,
                                                               const std::string& key_file, std::string& error);

// A self-signed P-256 certificate for CN=localhost (SAN localhost,
// 127.0.0.1, ::1), valid 365 days; the key file is written mode 0600.
bool generate_self_signed(const std::string& cert_file, const std::string& key_file, std::string& error);

}  // namespace vigil::proxy
