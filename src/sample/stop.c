/* Stop strings over streamed text. Generated text arrives a token at a time and a stop string
 * can span tokens, so the caller holds back the end of its text that could still be the start
 * of a stop string, and releases it once it no longer can (or drops it when a stop completes).
 * owl_stop_scan says which part of the held text is which; the buffer stays the caller's. */
#include "owl/sample.h"

#include <string.h>

bool owl_stop_scan(const char *text, size_t n, const char *const *stops, size_t n_stops,
                   size_t *n_release) {
    /* A completed stop string: the earliest occurrence of any of them wins. */
    bool hit = false;
    size_t first = n;
    for (size_t i = 0; i < n_stops; i++) {
        const size_t sl = stops[i] ? strlen(stops[i]) : 0;
        if (sl == 0 || sl > n) continue;
        const char *at = memmem(text, n, stops[i], sl);
        if (at && (size_t)(at - text) < first) {
            first = (size_t)(at - text);
            hit = true;
        }
    }
    if (hit) {
        *n_release = first;
        return true;
    }
    /* Otherwise keep the longest tail that is a proper prefix of some stop string. */
    size_t keep = 0;
    for (size_t i = 0; i < n_stops; i++) {
        const size_t sl = stops[i] ? strlen(stops[i]) : 0;
        if (sl == 0) continue;
        const size_t longest = sl - 1 < n ? sl - 1 : n;
        for (size_t k = longest; k > keep; k--) {
            if (memcmp(text + n - k, stops[i], k) == 0) {
                keep = k;
                break;
            }
        }
    }
    /* Never split a UTF-8 character: a kept tail starting on a continuation byte grows back to
     * the character's first byte. */
    while (keep > 0 && keep < n && ((unsigned char)text[n - keep] & 0xC0) == 0x80) keep++;
    *n_release = n - keep;
    return false;
}
