#ifndef SWIFTPOOL_CMICROHTTPD_SHIM_H
#define SWIFTPOOL_CMICROHTTPD_SHIM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <microhttpd.h>

/* MHD_start_daemon is variadic, which Swift cannot call: one fixed set of options here.
   `address` may be NULL (all IPv4 addresses). `listen_socket` is -1, or a listening socket to take
   over (from MHD_quiesce_daemon of the daemon it replaces; `address` is then ignored). `tls_key` and
   `tls_cert` are PEM texts, or both NULL for plain HTTP; with them the daemon speaks HTTPS (GnuTLS). */
static inline struct MHD_Daemon *swiftpool_mhd_start(
    unsigned int flags, uint16_t port, const struct sockaddr *address, int listen_socket,
    MHD_AccessHandlerCallback handler, void *handler_context,
    MHD_RequestCompletedCallback completed,
    unsigned int connection_limit, unsigned int timeout_seconds, size_t memory_limit,
    const char *tls_key, const char *tls_cert)
{
    struct MHD_OptionItem options[6];
    int count = 0;
    if (listen_socket >= 0) {
        options[count++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, listen_socket, NULL };
    } else if (address != NULL) {
        options[count++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, (void *)address };
    }
    if (tls_key != NULL && tls_cert != NULL) {
        flags |= MHD_USE_TLS;
        options[count++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls_key };
        options[count++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls_cert };
    }
    options[count] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_context,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit,
        MHD_OPTION_ARRAY, options,
        MHD_OPTION_END);
}
/* MHD_get_daemon_info is variadic too: the number of connections a daemon serves now. */
static inline unsigned int swiftpool_mhd_connection_count(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info == NULL ? 0 : info->num_connections;
}
#endif
