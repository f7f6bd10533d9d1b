// vigil-tls.so: the TLS client behind https health checks, over OpenSSL,
// loaded by vigild on the first https check (tls_plugin_api.h says why).
// Written against the C API only; no C++ library object crosses the
// boundary, and the plugin is linked with its own static libstdc++.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "supervisor/tls/tls_plugin_api.h"

struct vigil_tls_session {
    SSL* ssl = nullptr;
    char error[256] = {};
};

namespace {

char open_error[256] = "no error";

SSL_CTX* client_context() {
    // Built once; vigild is single-threaded, and a failure is retried.
    static SSL_CTX* ctx = nullptr;
    if (ctx) return ctx;
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    if (!c) return nullptr;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    // Partial writes are fine (the caller loops), and the buffer may move
    // between retries (the caller's buffer sequence).
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    ctx = c;
    return ctx;
}

void set_error(char* out, std::size_t size, const char* what) {
    const unsigned long e = ERR_get_error();
    if (e != 0) {
        char text[200];
        ERR_error_string_n(e, text, sizeof text);
        std::snprintf(out, size, "%s: %s", what, text);
    } else {
        std::snprintf(out, size, "%s", what);
    }
    ERR_clear_error();
}

// SSL_get_error() → the API's codes, and the error text for failures.
long outcome(vigil_tls_session* s, int ret, const char* what) {
    switch (SSL_get_error(s->ssl, ret)) {
        case SSL_ERROR_WANT_READ: return VIGIL_TLS_WANT_READ;
        case SSL_ERROR_WANT_WRITE: return VIGIL_TLS_WANT_WRITE;
        case SSL_ERROR_ZERO_RETURN: return 0;  // close_notify: the end of the stream
        case SSL_ERROR_SYSCALL: {
            const int err = errno;
            if (ERR_peek_error() == 0 && err == 0) return 0;  // EOF without close_notify: an end all the same
            if (ERR_peek_error() == 0) {
                std::snprintf(s->error, sizeof s->error, "%s: %s", what, std::strerror(err));
                return VIGIL_TLS_ERROR;
            }
            break;
        }
        default: break;
    }
    set_error(s->error, sizeof s->error, what);
    return VIGIL_TLS_ERROR;
}

vigil_tls_session* tls_open(int fd, const char* sni) {
    SSL_CTX* ctx = client_context();
    if (!ctx) {
        set_error(open_error, sizeof open_error, "TLS client context");
        return nullptr;
    }
    auto* s = new (std::nothrow) vigil_tls_session;
    if (!s) {
        std::snprintf(open_error, sizeof open_error, "out of memory");
        return nullptr;
    }
    s->ssl = SSL_new(ctx);
    if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1 || (sni && SSL_set_tlsext_host_name(s->ssl, sni) != 1)) {
        set_error(open_error, sizeof open_error, "TLS session");
        if (s->ssl) SSL_free(s->ssl);
        delete s;
        return nullptr;
    }
    SSL_set_connect_state(s->ssl);
    return s;
}

int tls_handshake(vigil_tls_session* s) {
    ERR_clear_error();
    errno = 0;
    const int r = SSL_do_handshake(s->ssl);
    if (r == 1) return 0;
    const long o = outcome(s, r, "TLS handshake");
    if (o == 0) {  // the peer closed during the handshake
        std::snprintf(s->error, sizeof s->error, "TLS handshake: connection closed by the server");
        return VIGIL_TLS_ERROR;
    }
    return static_cast<int>(o);
}

long tls_read(vigil_tls_session* s, void* buf, unsigned long len) {
    if (len == 0) return VIGIL_TLS_WANT_READ;
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    const int r = SSL_read_ex(s->ssl, buf, len, &n);
    if (r == 1) return static_cast<long>(n);
    return outcome(s, r, "TLS read");
}

long tls_write(vigil_tls_session* s, const void* buf, unsigned long len) {
    if (len == 0) return 0;
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    const int r = SSL_write_ex(s->ssl, buf, len, &n);
    if (r == 1) return static_cast<long>(n);
    const long o = outcome(s, r, "TLS write");
    if (o == 0) {
        std::snprintf(s->error, sizeof s->error, "TLS write: connection closed by the server");
        return VIGIL_TLS_ERROR;
    }
    return o;
}

const char* tls_error(const vigil_tls_session* s) { return s ? s->error : open_error; }

void tls_close(vigil_tls_session* s) {
    if (!s) return;
    SSL_free(s->ssl);  // no close_notify: the check is over, see http_probe.cpp
    delete s;
}

const vigil_tls_api api = {VIGIL_TLS_API_VERSION, tls_open, tls_handshake, tls_read, tls_write, tls_error, tls_close};

}  // namespace

extern "C" __attribute__((visibility("default"))) const vigil_tls_api* vigil_tls_api_v1(void) { return &api; }
