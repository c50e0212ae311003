#ifndef SWIFTPOOL_X509_VERIFY_H
#define SWIFTPOOL_X509_VERIFY_H
#include <stddef.h>

/* Client certificate verification with revocation lists, on the system's OpenSSL: the TLS
   library SwiftPool serves clients with has no CRL support, so when `ssl_crl_file` is set the
   chain a client presents is verified here instead, as PostgreSQL does (X509_V_FLAG_CRL_CHECK
   and X509_V_FLAG_CRL_CHECK_ALL, purpose "ssl_client"). */

typedef struct swiftpool_x509_verifier swiftpool_x509_verifier;

/* A trust store from a PEM CA file and/or a hashed CA directory (c_rehash layout; CRLs named
   HASH.rN there are used too) and a PEM file of CRLs. Any path may be NULL. Returns NULL and
   writes a reason into `error` when a file cannot be loaded. */
swiftpool_x509_verifier *swiftpool_x509_verifier_new(const char *ca_file, const char *ca_directory,
                                                     const char *crl_file, char *error, size_t error_length);

void swiftpool_x509_verifier_free(swiftpool_x509_verifier *verifier);

/* Verifies a chain of DER certificates, the client's own first. Returns 0 when it is trusted,
   otherwise OpenSSL's verification error code, with its text in `error`. */
int swiftpool_x509_verify_chain(const swiftpool_x509_verifier *verifier, const unsigned char *const *certificates,
                                const size_t *lengths, size_t count, char *error, size_t error_length);

#endif
