#include "proxy/tls.hpp"

#include <boost/asio/ssl/context.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vigil::proxy {
namespace ssl = boost::asio::ssl;

namespace {
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string openssl_error(const char* what) {
    std::string s = what;
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        s += ": ";
        s += buf;
    }
    return s;
}
}  // namespace

std::shared_ptr<ssl::context> make_server_context(const std::string& cert_file, const std::string& key_file,
                                                  std::string& error) {
    // OpenSSL would block for ever opening a FIFO (and read a device): only
    // regular files are loaded.
    for (const std::string* f : {&cert_file, &key_file}) {
        struct stat st {};
        if (::stat(f->c_str(), &st) != 0) {
            error = *f + ": " + std::strerror(errno);
            return nullptr;
        }
        if (!S_ISREG(st.st_mode)) {
            error = *f + ": not a regular file";
            return nullptr;
        }
    }
    try {
        auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
        ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                         ssl::context::single_dh_use);
        SSL_CTX* native = ctx->native_handle();
        SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
        SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
        if (SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1) {
            error = openssl_error("cipher list");
            return nullptr;
        }
        // Mozilla "intermediate" order for TLS 1.3 too: AES-128-GCM first.
        SSL_CTX_set_ciphersuites(native, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
        ctx->use_certificate_chain_file(cert_file);
        ctx->use_private_key_file(key_file, ssl::context::pem);
        if (SSL_CTX_check_private_key(native) != 1) {
            error = openssl_error("certificate and key do not match");
            return nullptr;
        }
        SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
        SSL_CTX_set_session_id_context(native, reinterpret_cast<const unsigned char*>("vigil-proxy"), 11);
        return ctx;
    } catch (const std::exception& e) {
        error = std::string(e.what()) + " (" + cert_file + ", " + key_file + ")";
        return nullptr;
    }
}

bool generate_self_signed(const std::string& cert_file, const std::string& key_file, std::string& error) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    bool ok = false;
    do {
        if (!key || !x) { error = openssl_error("key generation"); break; }
        X509_set_version(x, 2);
        unsigned char serial[16];
        RAND_bytes(serial, sizeof serial);
        serial[0] &= 0x7f;
        BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
        BN_free(bn);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
        X509_set_pubkey(x, key);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("vigil demo"), -1, -1, 0);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(x, name);
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
        for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
                                  std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                                  std::pair{NID_ext_key_usage, "serverAuth"}}) {
            X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
            if (!ext) break;
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        if (!X509_sign(x, key, EVP_sha256())) { error = openssl_error("signing"); break; }

        int kfd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        FILE* kf = kfd >= 0 ? fdopen(kfd, "w") : nullptr;
        if (!kf) { error = "cannot write " + key_file; if (kfd >= 0) ::close(kfd); break; }
        const bool key_ok = PEM_write_PrivateKey(kf, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
        std::fclose(kf);
        FILE* cf = std::fopen(cert_file.c_str(), "w");
        if (!cf) { error = "cannot write " + cert_file; break; }
        const bool cert_ok = PEM_write_X509(cf, x) == 1;
        std::fclose(cf);
        if (!key_ok || !cert_ok) { error = openssl_error("writing PEM"); break; }
        ok = true;
    } while (false);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

}  // namespace vigil::proxy
