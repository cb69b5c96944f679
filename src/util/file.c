/* Whole-file reads, for the small inputs the CLI and the forge take (templates, messages, text). */
#include "owl/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *owl_read_file(const char *path, size_t max, size_t *len, owl_error *err) {
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return owl_errorf(err, "%s: %s", path, strerror(errno)), NULL;
    /* Read in growing chunks rather than trusting a size: pipes and stdin have none. */
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    bool too_big = false, failed = buf == NULL;
    while (!failed) {
        if (n == cap) {
            if (cap >= max) {
                too_big = true;
                break;
            }
            size_t ncap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                failed = true;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        if (k == 0) {
            failed = ferror(f) != 0;
            break;
        }
        n += k;
    }
    if (!is_stdin) fclose(f);
    if (failed || too_big) {
        free(buf);
        if (too_big) return owl_errorf(err, "%s: larger than %zu bytes", path, max), NULL;
        return owl_errorf(err, "%s: read failed", path), NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}
