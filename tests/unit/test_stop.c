/* Stop strings over streamed text (owl_stop_scan): what is shown, what is held back, where a
 * stop string spanning several pieces ends the text. */
#include "owl/sample.h"
#include "test.h"

/* Streams `pieces` through a held-back buffer as `owl run` and the server do; returns whether a
 * stop string ended it and writes what was shown into out. Checks on the way that everything
 * shown is final: the shown text is always a prefix of the text before the first stop. */
static bool stream(const char *const *pieces, int n_pieces, const char *const *stops, size_t n_stops,
                   char *out, size_t cap) {
    char held[256];
    size_t n_held = 0, n_out = 0;
    out[0] = 0;
    for (int i = 0; i < n_pieces; i++) {
        size_t n = strlen(pieces[i]);
        if (n_held + n >= sizeof held) return false;
        memcpy(held + n_held, pieces[i], n);
        n_held += n;
        size_t rel = 0;
        bool hit = owl_stop_scan(held, n_held, stops, n_stops, &rel);
        if (rel > n_held || n_out + rel >= cap) return false;
        memcpy(out + n_out, held, rel);
        n_out += rel;
        out[n_out] = 0;
        if (hit) return true;
        memmove(held, held + rel, n_held - rel);
        n_held -= rel;
    }
    memcpy(out + n_out, held, n_held); /* the end: held text is shown as it is */
    out[n_out + n_held] = 0;
    return false;
}

static void test_no_stops(void) {
    size_t rel = 99;
    CHECK(!owl_stop_scan("hello", 5, NULL, 0, &rel));
    CHECK_EQ_INT(rel, 5);
    CHECK(!owl_stop_scan(NULL, 0, NULL, 0, &rel));
    CHECK_EQ_INT(rel, 0);
}

static void test_match_and_hold(void) {
    const char *stops[] = {"world"};
    size_t rel;
    CHECK(owl_stop_scan("hello world!", 12, stops, 1, &rel));
    CHECK_EQ_INT(rel, 6);
    CHECK(!owl_stop_scan("hello wor", 9, stops, 1, &rel));
    CHECK_EQ_INT(rel, 6); /* "wor" may still become "world" */
    CHECK(!owl_stop_scan("hello word", 10, stops, 1, &rel));
    CHECK_EQ_INT(rel, 10);
    CHECK(!owl_stop_scan("wo", 2, stops, 1, &rel)); /* shorter than the stop string */
    CHECK_EQ_INT(rel, 0);
    CHECK(owl_stop_scan("world", 5, stops, 1, &rel));
    CHECK_EQ_INT(rel, 0);
}

static void test_earliest_of_several(void) {
    const char *stops[] = {"b", "a", "", NULL};
    size_t rel;
    CHECK(owl_stop_scan("xxab", 4, stops, 4, &rel));
    CHECK_EQ_INT(rel, 2);
    const char *longer[] = {"abc", "bcd"};
    CHECK(!owl_stop_scan("zzab", 4, longer, 2, &rel)); /* "ab" starts abc, "b" starts bcd */
    CHECK_EQ_INT(rel, 2);
}

static void test_across_pieces(void) {
    const char *stops[] = {"</end>", "STOP"};
    char out[256];
    const char *p1[] = {"Hello", " <", "/e", "nd", ">", " never"};
    CHECK(stream(p1, 6, stops, 2, out, sizeof out));
    CHECK_STR(out, "Hello ");
    const char *p2[] = {"a <", "/e", "x> b", "ST", "O", "P c"};
    CHECK(stream(p2, 6, stops, 2, out, sizeof out));
    CHECK_STR(out, "a </ex> b");
    const char *p3[] = {"no ", "stop", " here S"};
    CHECK(!stream(p3, 3, stops, 2, out, sizeof out)); /* the held "S" is shown at the end */
    CHECK_STR(out, "no stop here S");
}

static void test_utf8_never_split(void) {
    /* "é" is C3 A9; a stop string starting with its second byte must not cut the character. */
    const char *stops[] = {"\xA9z"};
    size_t rel;
    CHECK(!owl_stop_scan("caf\xC3\xA9", 5, stops, 1, &rel));
    CHECK_EQ_INT(rel, 3);
    const char *stops2[] = {"\xC3\xA9!"};
    CHECK(!owl_stop_scan("caf\xC3\xA9", 5, stops2, 1, &rel));
    CHECK_EQ_INT(rel, 3);
    CHECK(owl_stop_scan("caf\xC3\xA9!", 6, stops2, 1, &rel));
    CHECK_EQ_INT(rel, 3);
}

int main(void) {
    RUN(test_no_stops);
    RUN(test_match_and_hold);
    RUN(test_earliest_of_several);
    RUN(test_across_pieces);
    RUN(test_utf8_never_split);
    return test_summary();
}
