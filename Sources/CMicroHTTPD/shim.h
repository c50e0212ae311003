#ifndef SWIFTPOOL_CMICROHTTPD_SHIM_H
#define SWIFTPOOL_CMICROHTTPD_SHIM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <microhttpd.h>

/* MHD_start_daemon is variadic, which Swift cannot call: one fixed set of options here.
   `address` may be NULL (all IPv4 addresses). `tls_key` and `tls_cert` are PEM texts, or both NULL
   for plain HTTP; with them the daemon speaks HTTPS (GnuTLS). */
static inline struct MHD_Daemon *swiftpool_mhd_start(
    unsigned int flags, uint16_t port, const struct sockaddr *address,
    MHD_AccessHandlerCallback handler, void *handler_context,
    MHD_RequestCompletedCallback completed,
    unsigned int connection_limit, unsigned int timeout_seconds, size_t memory_limit,
    const char *tls_key, const char *tls_cert)
{
    struct MHD_OptionItem tls[3] = {
        { MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls_key },
        { MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls_cert },
        { MHD_OPTION_END, 0, NULL },
    };
    struct MHD_OptionItem none[1] = { { MHD_OPTION_END, 0, NULL } };
    struct MHD_OptionItem *extra = none;
    if (tls_key != NULL && tls_cert != NULL) {
        flags |= MHD_USE_TLS;
        extra = tls;
    }
    if (address == NULL) {
        return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_context,
            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
            MHD_OPTION_CONNECTION_TIMEOUT, timeout_seconds,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit,
            MHD_OPTION_ARRAY, extra,
            MHD_OPTION_END);
    }
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_context,
        MHD_OPTION_SOCK_ADDR, address,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit,
        MHD_OPTION_ARRAY, extra,
        MHD_OPTION_END);
}
#endif
