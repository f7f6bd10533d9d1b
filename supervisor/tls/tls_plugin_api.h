/* The C interface between vigild and vigil-tls.so, the TLS client that https
 * health checks load on first use. Only vigild programs with https checks
 * pay for OpenSSL (1.7 MB of resident pages when linked); the rest never map
 * it. C, so the plugin keeps its own libstdc++ and nothing C++ crosses.
 *
 * A session wraps a connected, non-blocking socket that the caller owns and
 * waits on: every call does what it can without blocking and says what it
 * waits for. */
#ifndef VIGIL_TLS_PLUGIN_API_H
#define VIGIL_TLS_PLUGIN_API_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    VIGIL_TLS_WANT_READ = -1,  /* retry when the socket is readable */
    VIGIL_TLS_WANT_WRITE = -2, /* retry when the socket is writable */
    VIGIL_TLS_ERROR = -3       /* failed: vigil_tls_api.error() says why */
};

#define VIGIL_TLS_API_VERSION 1u

struct vigil_tls_session;

struct vigil_tls_api {
    unsigned version;
    /* A client session on fd (TLS 1.2 at least, no certificate check, like
     * curl -k: local services mostly have self-signed ones). sni may be
     * NULL. NULL on failure, with the reason in error(NULL). */
    struct vigil_tls_session* (*open)(int fd, const char* sni);
    /* 0 when done, else one of the codes above. */
    int (*handshake)(struct vigil_tls_session* s);
    /* Bytes moved (> 0), 0 at the end of the stream (read only), or a code. */
    long (*read)(struct vigil_tls_session* s, void* buf, unsigned long len);
    long (*write)(struct vigil_tls_session* s, const void* buf, unsigned long len);
    /* The last failure, as text; never NULL. */
    const char* (*error)(const struct vigil_tls_session* s);
    /* Frees the session; the socket stays open (the caller closes it). */
    void (*close)(struct vigil_tls_session* s);
};

/* The one symbol vigil-tls.so exports. */
const struct vigil_tls_api* vigil_tls_api_v1(void);
typedef const struct vigil_tls_api* (*vigil_tls_api_v1_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
