/* owl — common types shared by every module: errors and length-delimited strings.
 *
 * Errors: every fallible library function takes an `owl_error *` (which may be NULL) and returns
 * a failure value (-1, NULL or false). The message is one line, names the thing that was wrong
 * (file, tensor, key, field) and never ends with a newline or a full stop. The library never
 * prints and never exits; the CLI prints `owl: <message>` and exits non-zero. */
#ifndef OWL_COMMON_H
#define OWL_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OWL_VERSION "0.1.0"

typedef struct owl_error {
    char msg[512];
} owl_error;

#if defined(__GNUC__)
#define OWL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define OWL_PRINTF(a, b)
#endif

/* Sets the message (printf-style); does nothing when err is NULL. Always returns -1 so that
 * `return owl_errorf(err, ...)` reads naturally. */
int owl_errorf(owl_error *err, const char *fmt, ...) OWL_PRINTF(2, 3);
int owl_verrorf(owl_error *err, const char *fmt, va_list ap);
/* Prepends "prefix: " to an existing message (used to add the file name at module borders). */
void owl_error_prefix(owl_error *err, const char *fmt, ...) OWL_PRINTF(2, 3);

/* A byte string that is not NUL-terminated, usually pointing into a mapped file. */
typedef struct owl_str {
    const char *ptr;
    size_t len;
} owl_str;

bool owl_str_eq(owl_str s, const char *cstr);
/* A newly malloc'd NUL-terminated copy (NULL when out of memory). */
char *owl_str_dup(owl_str s);

/* UTF-8: true when the n bytes are well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool owl_utf8_valid(const char *s, size_t n);
/* Writes code point cp (<= U+10FFFF) as UTF-8 into out (room for 4 bytes); returns the length. */
size_t owl_utf8_encode(uint32_t cp, char *out);
/* Length of the UTF-8 sequence that starts with byte c (1..4), or 0 for a continuation or invalid
 * lead byte. */
int owl_utf8_len(unsigned char c);

/* Reads a whole file ("-" = standard input) into a new NUL-terminated buffer; fails, naming the
 * path, when it cannot be read or holds more than max bytes. */
char *owl_read_file(const char *path, size_t max, size_t *len, owl_error *err);

/* Bytes of memory a new allocation could still get (Linux's MemAvailable); 0 when unknown. */
uint64_t owl_mem_available(void);

#ifdef __cplusplus
}
#endif
#endif
