#include "x509_verify.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>

struct swiftpool_x509_verifier {
    X509_STORE *store;
};

static void write_error(char *error, size_t error_length, const char *what, const char *path) {
    unsigned long code = ERR_get_error();
    char reason[256] = "unknown reason";
    if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    if (error != NULL && error_length > 0) snprintf(error, error_length, "%s %s: %s", what, path, reason);
}

swiftpool_x509_verifier *swiftpool_x509_verifier_new(const char *ca_file, const char *ca_directory,
                                                     const char *crl_file, char *error, size_t error_length) {
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) {
        write_error(error, error_length, "cannot allocate a certificate store for", "revocation checks");
        return NULL;
    }
    if (ca_file != NULL && X509_STORE_load_file(store, ca_file) != 1) {
        write_error(error, error_length, "cannot load CA certificates from", ca_file);
        X509_STORE_free(store);
        return NULL;
    }
    if (ca_directory != NULL && X509_STORE_load_path(store, ca_directory) != 1) {
        write_error(error, error_length, "cannot use CA directory", ca_directory);
        X509_STORE_free(store);
        return NULL;
    }
    if (crl_file != NULL) {
        X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (lookup == NULL || X509_load_crl_file(lookup, crl_file, X509_FILETYPE_PEM) <= 0) {
            write_error(error, error_length, "cannot load a certificate revocation list from", crl_file);
            X509_STORE_free(store);
            return NULL;
        }
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    swiftpool_x509_verifier *verifier = malloc(sizeof *verifier);
    if (verifier == NULL) {
        X509_STORE_free(store);
        return NULL;
    }
    verifier->store = store;
    return verifier;
}

void swiftpool_x509_verifier_free(swiftpool_x509_verifier *verifier) {
    if (verifier == NULL) return;
    X509_STORE_free(verifier->store);
    free(verifier);
}

int swiftpool_x509_verify_chain(const swiftpool_x509_verifier *verifier, const unsigned char *const *certificates,
                                const size_t *lengths, size_t count, char *error, size_t error_length) {
    int result = X509_V_ERR_UNSPECIFIED;
    X509 *leaf = NULL;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *context = X509_STORE_CTX_new();
    if (count == 0 || untrusted == NULL || context == NULL) goto done;
    for (size_t index = 0; index < count; index++) {
        const unsigned char *cursor = certificates[index];
        X509 *certificate = d2i_X509(NULL, &cursor, (long)lengths[index]);
        if (certificate == NULL) {
            if (error != NULL && error_length > 0) snprintf(error, error_length, "cannot decode certificate %zu of the chain", index);
            ERR_clear_error();
            sk_X509_pop_free(untrusted, X509_free);
            X509_STORE_CTX_free(context);
            X509_free(leaf);
            return X509_V_ERR_UNSPECIFIED;
        }
        if (index == 0) {
            leaf = certificate;
        } else if (!sk_X509_push(untrusted, certificate)) {
            X509_free(certificate);
            goto done;
        }
    }
    if (X509_STORE_CTX_init(context, verifier->store, leaf, untrusted) != 1) goto done;
    X509_STORE_CTX_set_default(context, "ssl_client");
    result = X509_verify_cert(context) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(context);
done:
    if (result != X509_V_OK && error != NULL && error_length > 0) {
        snprintf(error, error_length, "%s", X509_verify_cert_error_string(result));
    }
    ERR_clear_error();
    X509_STORE_CTX_free(context);
    X509_free(leaf);
    sk_X509_pop_free(untrusted, X509_free);
    return result;
}
