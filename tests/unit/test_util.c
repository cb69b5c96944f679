/* Tests of src/util: errors and UTF-8 validation. */
#include "owl/common.h"
#include "test.h"

static void test_utf8_valid(void) {
    CHECK(owl_utf8_valid("", 0));
    CHECK(owl_utf8_valid("hello", 5));
    CHECK(owl_utf8_valid("\xC3\xA9", 2));             /* é */
    CHECK(owl_utf8_valid("\xE2\x82\xAC", 3));         /* € */
    CHECK(owl_utf8_valid("\xF0\x9F\xA6\x89", 4));     /* owl emoji */
    CHECK(!owl_utf8_valid("\xC3", 1));                /* truncated */
    CHECK(!owl_utf8_valid("\xC0\xAF", 2));            /* overlong '/' */
    CHECK(!owl_utf8_valid("\xE0\x80\xAF", 3));        /* overlong 3-byte */
    CHECK(!owl_utf8_valid("\xED\xA0\x80", 3));        /* surrogate */
    CHECK(!owl_utf8_valid("\xF4\x90\x80\x80", 4));    /* > U+10FFFF */
    CHECK(!owl_utf8_valid("\x80", 1));                /* lone continuation */
    CHECK(!owl_utf8_valid("a\xFF", 2));
}

static void test_error_messages(void) {
    owl_error e = {{0}};
    CHECK_EQ_INT(owl_errorf(&e, "tensor %s: bad type %d", "x", 7), -1);
    CHECK_STR(e.msg, "tensor x: bad type 7");
    owl_error_prefix(&e, "%s", "model.gguf");
    CHECK_STR(e.msg, "model.gguf: tensor x: bad type 7");
    CHECK_EQ_INT(owl_errorf(NULL, "ignored"), -1);
}

static void test_read_file(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/f.txt", test_tmpdir());
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    for (int i = 0; i < 100000; i++) fputc('a' + i % 26, f); /* more than the first chunk */
    fclose(f);
    owl_error e = {{0}};
    size_t n = 0;
    char *s = owl_read_file(path, 1 << 20, &n, &e);
    REQUIRE(s);
    CHECK_EQ_INT(n, 100000);
    CHECK(s[99999] == 'a' + 99999 % 26 && s[100000] == '\0');
    free(s);
    CHECK(owl_read_file(path, 1000, &n, &e) == NULL && strstr(e.msg, "larger than 1000 bytes"));
    CHECK(owl_read_file("/nonexistent/x", 1000, &n, &e) == NULL && strstr(e.msg, "/nonexistent/x"));
    remove(path);
}

int main(void) {
    RUN(test_utf8_valid);
    RUN(test_error_messages);
    RUN(test_read_file);
    return test_summary();
}
