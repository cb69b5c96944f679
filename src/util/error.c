/* Error messages: one line, built with printf formatting, owned by the caller's owl_error. */
#include "owl/common.h"

#include <stdio.h>
#include <string.h>

int owl_verrorf(owl_error *err, const char *fmt, va_list ap) {
    if (err) {
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return -1;
}

int owl_errorf(owl_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    owl_verrorf(err, fmt, ap);
    va_end(ap);
    return -1;
}

void owl_error_prefix(owl_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Build "prefix: old" by moving the old message right; truncation keeps the prefix. */
    size_t plen = strnlen(prefix, sizeof prefix);
    size_t cap = sizeof err->msg - 1;
    if (plen + 2 > cap) plen = cap - 2;
    size_t olen = strnlen(err->msg, cap);
    if (plen + 2 + olen > cap) olen = cap - plen - 2;
    memmove(err->msg + plen + 2, err->msg, olen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
    err->msg[plen + 2 + olen] = '\0';
}
