/* Blobs: SHA-256 through OpenSSL's EVP interface, atomic file writes, and importing a local file
 * into the content-addressed blob folder. */
#include "owl/store.h"
#include "store/store_internal.h"

#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct owl_sha256 {
    EVP_MD_CTX *ctx;
};

owl_sha256 *owl_sha256_new(void) {
    owl_sha256 *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void owl_sha256_update(owl_sha256 *h, const void *data, size_t n) {
    if (n) EVP_DigestUpdate(h->ctx, data, n);
}

void owl_sha256_final(owl_sha256 *h, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, md, &n);
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

bool owl_sha256_hex_valid(const char *s) {
    if (!s) return false;
    for (int i = 0; i < 64; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return s[64] == '\0';
}

#define CHUNK (1u << 20)

int owl_sha256_file(const char *path, char hex[65], uint64_t *size, owl_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return owl_errorf(err, "%s: %s", path, strerror(errno));
    owl_sha256 *h = owl_sha256_new();
    char *buf = malloc(CHUNK);
    if (!h || !buf) {
        if (h) owl_sha256_final(h, hex);
        free(buf);
        close(fd);
        return owl_errorf(err, "out of memory");
    }
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            owl_sha256_final(h, hex);
            free(buf);
            close(fd);
            return owl_errorf(err, "%s: %s", path, strerror(e));
        }
        if (n == 0) break;
        owl_sha256_update(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    owl_sha256_final(h, hex);
    free(buf);
    close(fd);
    if (size) *size = total;
    return 0;
}

/* ---- atomic writes --------------------------------------------------------------------------- */

int store_write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int owl_write_file_atomic(const char *path, const void *data, size_t n, owl_error *err) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp) return owl_errorf(err, "out of memory");
    snprintf(tmp, len + 16, "%s.tmp-XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return owl_errorf(err, "%s: %s", path, strerror(e));
    }
    fchmod(fd, 0644);
    if (store_write_all(fd, data, n) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return owl_errorf(err, "%s: %s", path, strerror(e ? e : EIO));
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return owl_errorf(err, "%s: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}

/* ---- import ---------------------------------------------------------------------------------- */

int store_gguf_magic(const char *path, owl_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return owl_errorf(err, "%s: %s", path, strerror(errno));
    char magic[4] = {0};
    ssize_t n = read(fd, magic, 4);
    close(fd);
    if (n != 4 || memcmp(magic, "GGUF", 4) != 0) {
        return owl_errorf(err, "%s is not a GGUF file (no GGUF magic at its start)", path);
    }
    return 0;
}

int owl_store_import(const owl_store *s, const char *path, char digest[72], uint64_t *size,
                     owl_error *err) {
    struct stat st;
    if (stat(path, &st) < 0) return owl_errorf(err, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return owl_errorf(err, "%s is not a regular file", path);
    if (store_gguf_magic(path, err) < 0) return -1;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return owl_errorf(err, "%s: %s", path, strerror(errno));
    char *tmp = store_path(s, "blobs/import-XXXXXX");
    char *buf = malloc(CHUNK);
    owl_sha256 *h = owl_sha256_new();
    int out = tmp ? mkostemp(tmp, O_CLOEXEC) : -1;
    int rc = -1;
    uint64_t total = 0;
    if (!tmp || !buf || !h) {
        owl_errorf(err, "out of memory");
        goto done;
    }
    if (out < 0) {
        owl_errorf(err, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t n = read(in, buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            owl_errorf(err, "%s: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0) break;
        owl_sha256_update(h, buf, (size_t)n);
        if (store_write_all(out, buf, (size_t)n) < 0) {
            owl_errorf(err, "%s: %s", tmp, strerror(errno ? errno : EIO));
            goto done;
        }
        total += (uint64_t)n;
    }
    if (fsync(out) < 0) {
        owl_errorf(err, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    char hex[65];
    owl_sha256_final(h, hex);
    h = NULL;
    snprintf(digest, 72, "sha256:%s", hex);
    char *dst = owl_store_blob_path(s, digest);
    if (!dst) {
        owl_errorf(err, "out of memory");
        goto done;
    }
    fchmod(out, 0644);
    if (rename(tmp, dst) < 0) {
        owl_errorf(err, "%s: %s", dst, strerror(errno));
        free(dst);
        goto done;
    }
    free(dst);
    free(tmp);
    tmp = NULL;
    if (size) *size = total;
    rc = 0;
done:
    if (h) {
        char ignored[65];
        owl_sha256_final(h, ignored);
    }
    if (out >= 0) close(out);
    if (tmp) {
        if (out >= 0) unlink(tmp);
        free(tmp);
    }
    free(buf);
    close(in);
    return rc;
}
