/* The model store: names, SHA-256, manifests, list/cp/rm, name-or-path resolution, the Modelfile
 * parser (and its errors), pull URL mapping, keep_alive durations. Downloads themselves are
 * exercised against a local HTTP server in tests/cli/store.sh. */
#include "test.h"

#include "owl/store.h"
#include "server/registry.h"

#include <fcntl.h>
#include <limits.h>

static void test_sha256(void) {
    char hex[65];
    owl_sha256 *h = owl_sha256_new();
    REQUIRE(h);
    owl_sha256_final(h, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    h = owl_sha256_new();
    owl_sha256_update(h, "a", 1);
    owl_sha256_update(h, "bc", 2);
    owl_sha256_final(h, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    char path[600];
    snprintf(path, sizeof path, "%s/abc.txt", test_tmpdir());
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fputs("abc", f);
    fclose(f);
    uint64_t size = 0;
    REQUIRE(owl_sha256_file(path, hex, &size, NULL) == 0);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_EQ_INT(size, 3);
    owl_error err = {{0}};
    CHECK(owl_sha256_file("/nonexistent/x", hex, NULL, &err) < 0);
    CHECK(strstr(err.msg, "/nonexistent/x") != NULL);

    CHECK(owl_sha256_hex_valid("BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(!owl_sha256_hex_valid("ba7816bf"));
    CHECK(!owl_sha256_hex_valid("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(!owl_sha256_hex_valid(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"));
}

static void test_names(void) {
    owl_model_name n;
    char buf[300];
    REQUIRE(owl_model_name_parse("Llama3", &n, NULL) == 0);
    owl_model_name_format(&n, buf, sizeof buf);
    CHECK_STR(buf, "llama3:latest");
    REQUIRE(owl_model_name_parse("team/qwen2.5-coder:7B-q4_K_M", &n, NULL) == 0);
    CHECK_STR(n.name, "team/qwen2.5-coder");
    CHECK_STR(n.tag, "7b-q4_k_m");
    REQUIRE(owl_model_name_parse("a/b/c:v1", &n, NULL) == 0);
    CHECK_STR(n.name, "a/b/c");

    static const char *const bad[] = {"", ":tag", "name:", "a b", "../etc", "a//b", "/abs",
                                      "a/", "-x", "x:.y", "x:y:z", "a\\b", "ä", "x:a/b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        owl_error err = {{0}};
        CHECKF(owl_model_name_parse(bad[i], &n, &err) < 0, "'%s' was accepted", bad[i]);
        CHECKF(err.msg[0] && !strchr(err.msg, '\n'), "'%s': %s", bad[i], err.msg);
    }
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(owl_model_name_parse(longname, &n, NULL) < 0);
}

/* A small file that starts like a GGUF (the store only checks the magic). */
static void write_fake(const char *path, const char *payload) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs("GGUF", f);
    fputs(payload, f);
    fclose(f);
}

static void test_store_lifecycle(void) {
    char root[600], file[600], other[600];
    snprintf(root, sizeof root, "%s/store", test_tmpdir());
    snprintf(file, sizeof file, "%s/model.gguf", test_tmpdir());
    snprintf(other, sizeof other, "%s/notgguf.bin", test_tmpdir());
    write_fake(file, "payload-1");
    FILE *f = fopen(other, "wb");
    REQUIRE(f);
    fputs("hello", f);
    fclose(f);

    owl_store s;
    owl_error err = {{0}};
    REQUIRE(owl_store_open(&s, root, &err) == 0);
    char digest[72];
    uint64_t size = 0;
    REQUIRE(owl_store_import(&s, file, digest, &size, &err) == 0);
    CHECK_EQ_INT(size, 13);
    CHECK(strncmp(digest, "sha256:", 7) == 0 && owl_sha256_hex_valid(digest + 7));
    char *blob = owl_store_blob_path(&s, digest);
    REQUIRE(blob);
    struct stat st;
    CHECK(stat(blob, &st) == 0 && st.st_size == 13);
    CHECK(owl_store_import(&s, other, digest + 0, &size, &err) < 0);
    CHECK(strstr(err.msg, "not a GGUF file") != NULL);
    /* the failed import left no temporary file next to the blobs */
    REQUIRE(owl_store_import(&s, file, digest, &size, &err) == 0);

    owl_manifest m = {0};
    REQUIRE(owl_model_name_parse("tiny", &m.name, NULL) == 0);
    snprintf(m.digest, sizeof m.digest, "%s", digest);
    m.size = size;
    m.system = strdup("Be brief.");
    m.parameters = json_pack("{s:f, s:[s]}", "temperature", 0.25, "stop", "END");
    REQUIRE(owl_store_write_manifest(&s, &m, &err) == 0);
    owl_manifest_free(&m);

    owl_manifest r;
    REQUIRE(owl_store_read_manifest(&s, "TINY:latest", &r, &err) == 0);
    CHECK_STR(r.digest, digest);
    CHECK_EQ_INT(r.size, 13);
    CHECK_STR(r.system, "Be brief.");
    CHECK(fabs(json_real_value(json_object_get(r.parameters, "temperature")) - 0.25) < 1e-9);
    CHECK(r.modified > 0);
    owl_manifest_free(&r);

    CHECK(owl_store_read_manifest(&s, "missing", &r, &err) < 0);
    CHECK(strstr(err.msg, "missing:latest") != NULL);

    REQUIRE(owl_store_copy(&s, "tiny", "team/tiny:v2", &err) == 0);
    CHECK(owl_store_copy(&s, "tiny", "team/tiny:v2", &err) < 0);
    CHECK(strstr(err.msg, "already exists") != NULL);
    CHECK(owl_store_copy(&s, "nope", "x", &err) < 0);

    owl_manifest *list;
    size_t n;
    REQUIRE(owl_store_list(&s, &list, &n, &err) == 0);
    REQUIRE(n == 2);
    CHECK_STR(list[0].name.name, "team/tiny");
    CHECK_STR(list[0].name.tag, "v2");
    CHECK_STR(list[1].name.name, "tiny");
    owl_store_list_free(list, n);

    /* names and paths */
    owl_resolved res;
    REQUIRE(owl_store_resolve(&s, "team/tiny:v2", &res, &err) == 0);
    CHECK(res.from_store);
    CHECK_STR(res.path, blob);
    CHECK_STR(res.m.system, "Be brief.");
    owl_resolved_free(&res);
    REQUIRE(owl_store_resolve(&s, file, &res, &err) == 0);
    CHECK(!res.from_store);
    CHECK_STR(res.path, file);
    owl_resolved_free(&res);
    CHECK(owl_store_resolve(&s, "./absent.gguf", &res, &err) < 0);
    CHECK(strstr(err.msg, "No such file") != NULL);
    CHECK(owl_store_resolve(&s, "absent", &res, &err) < 0);
    CHECK(strstr(err.msg, "not found") != NULL);

    /* rm keeps the blob while another name uses it */
    REQUIRE(owl_store_remove(&s, "tiny", &err) == 0);
    CHECK(stat(blob, &st) == 0);
    CHECK(owl_store_remove(&s, "tiny", &err) < 0);
    REQUIRE(owl_store_remove(&s, "team/tiny:v2", &err) == 0);
    CHECK(stat(blob, &st) < 0);
    REQUIRE(owl_store_list(&s, &list, &n, &err) == 0);
    CHECK_EQ_INT(n, 0);
    owl_store_list_free(list, n);

    /* a corrupt manifest is an error naming it, and is skipped by list */
    char bad[800];
    snprintf(bad, sizeof bad, "%s/manifests/broken", root);
    mkdir(bad, 0755);
    snprintf(bad, sizeof bad, "%s/manifests/broken/latest.json", root);
    f = fopen(bad, "w");
    REQUIRE(f);
    fputs("{\"model\":\"sha256:zz\"}", f);
    fclose(f);
    CHECK(owl_store_read_manifest(&s, "broken", &r, &err) < 0);
    CHECK(strstr(err.msg, "manifest") != NULL);
    REQUIRE(owl_store_list(&s, &list, &n, &err) == 0);
    CHECK_EQ_INT(n, 0);
    owl_store_list_free(list, n);
    /* writing a name over with another blob drops the blob it leaves unused */
    char file2[600];
    snprintf(file2, sizeof file2, "%s/model2.gguf", test_tmpdir());
    write_fake(file2, "payload-2");
    char d1[72], d2[72];
    REQUIRE(owl_store_import(&s, file, d1, &size, &err) == 0);
    REQUIRE(owl_store_import(&s, file2, d2, &size, &err) == 0);
    REQUIRE(owl_model_name_parse("again", &m.name, NULL) == 0);
    snprintf(m.digest, sizeof m.digest, "%s", d1);
    m.parameters = json_object();
    REQUIRE(owl_store_write_manifest(&s, &m, &err) == 0);
    snprintf(m.digest, sizeof m.digest, "%s", d2);
    REQUIRE(owl_store_write_manifest(&s, &m, &err) == 0);
    owl_manifest_free(&m);
    char *b1 = owl_store_blob_path(&s, d1), *b2 = owl_store_blob_path(&s, d2);
    CHECK(stat(b1, &st) < 0);
    CHECK(stat(b2, &st) == 0);
    free(b1);
    free(b2);
    free(blob);
    owl_store_close(&s);
}

static void test_modelfile(void) {
    static const char text[] =
        "# a comment\n"
        "from ./model.gguf\n"
        "PARAMETER temperature 0.7\n"
        "PARAMETER num_ctx 2048\n"
        "PARAMETER stop \"<|im_end|>\"\n"
        "PARAMETER stop \"say \\\"hi\\\"\"\n"
        "\n"
        "SYSTEM \"\"\"You are\n"
        "a helpful owl.\"\"\"\n"
        "TEMPLATE {{ .Prompt }}   \r\n"
        "LICENSE MIT\n";
    owl_modelfile mf;
    owl_error err = {{0}};
    REQUIRE(owl_modelfile_parse(text, strlen(text), &mf, &err) == 0);
    CHECK_STR(mf.from, "./model.gguf");
    CHECK_STR(mf.system, "You are\na helpful owl.");
    CHECK_STR(mf.template_src, "{{ .Prompt }}");
    CHECK_STR(mf.license, "MIT");
    CHECK(fabs(json_number_value(json_object_get(mf.parameters, "temperature")) - 0.7) < 1e-9);
    CHECK_EQ_INT(json_integer_value(json_object_get(mf.parameters, "num_ctx")), 2048);
    json_t *stop = json_object_get(mf.parameters, "stop");
    CHECK_EQ_INT(json_array_size(stop), 2);
    CHECK_STR(json_string_value(json_array_get(stop, 0)), "<|im_end|>");
    CHECK_STR(json_string_value(json_array_get(stop, 1)), "say \"hi\"");
    owl_modelfile_free(&mf);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"PARAMETER temperature 1\n", "no FROM"},
        {"FROM a\nFROM b\n", "line 2: FROM given twice"},
        {"FROM a\nBOGUS x\n", "line 2: unknown instruction 'BOGUS'"},
        {"FROM a\nPARAMETER colour blue\n", "line 2: unknown parameter 'colour'"},
        {"FROM a\nPARAMETER temperature hot\n", "not a number"},
        {"FROM a\nPARAMETER top_k 2.5\n", "not an integer"},
        {"FROM a\nPARAMETER top_p 3\n", "out of range"},
        {"FROM a\nPARAMETER temperature 1\nPARAMETER temperature 2\n", "given twice"},
        {"FROM a\nSYSTEM \"\"\"never closed\n", "line 2: SYSTEM: unterminated"},
        {"FROM a\nSYSTEM \"open\n", "unterminated \"string\""},
        {"FROM a\nSYSTEM \"x\" y\n", "after the closing quote"},
        {"FROM\n", "FROM needs"},
        {"FROM a\nADAPTER ./lora.gguf\n", "ADAPTER is not supported"},
        {"FROM a\nPARAMETER\n", "PARAMETER needs a name"},
        {"FROM a\n12 x\n", "not an instruction"},
        {"FROM a\nPARAMETER top_k \"\"\"1\n2\"\"\"\n", "'1?2' is not a number"},
        {"FROM a\nFROMX y\n", "unknown instruction"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        int rc = owl_modelfile_parse(bad[i].text, strlen(bad[i].text), &mf, &err);
        CHECKF(rc < 0 && strstr(err.msg, bad[i].msg) && !strchr(err.msg, '\n'),
               "case %zu: rc=%d msg='%s' (want '%s')", i, rc, err.msg, bad[i].msg);
    }
    /* a written Modelfile parses back to the same recipe */
    owl_manifest m = {0};
    m.parameters = json_pack("{s:f, s:i, s:[s, s, s, s]}", "temperature", 0.7, "top_k", 5, "stop",
                             "a\"b\\c", "<|end|>", "tab\there", "two\nlines");
    m.system = strdup("line one\nline two");
    m.template_src = strdup("{{ messages[0].content }}");
    char *written = owl_manifest_modelfile(&m, "/blobs/x");
    REQUIRE(written);
    REQUIRE(owl_modelfile_parse(written, strlen(written), &mf, &err) == 0);
    CHECK_STR(mf.from, "/blobs/x");
    CHECK_STR(mf.system, m.system);
    CHECK_STR(mf.template_src, m.template_src);
    CHECK(json_equal(mf.parameters, m.parameters));
    owl_modelfile_free(&mf);
    owl_manifest_free(&m);
    free(written);

    static const char nul[] = "FROM a\0b\n";
    CHECK(owl_modelfile_parse(nul, sizeof nul - 1, &mf, &err) < 0);
    CHECK(strstr(err.msg, "NUL") != NULL);
    CHECK(owl_modelfile_parse("FROM \xff\n", 7, &mf, &err) < 0);
}

static void test_pull_urls(void) {
    owl_error err = {{0}};
    char *u = owl_pull_url("hf://owner/repo/sub/model-Q4_K_M.gguf", &err);
    CHECK_STR(u, "https://huggingface.co/owner/repo/resolve/main/sub/model-Q4_K_M.gguf");
    free(u);
    u = owl_pull_url("http://127.0.0.1:9/x.gguf", &err);
    CHECK_STR(u, "http://127.0.0.1:9/x.gguf");
    free(u);
    CHECK(owl_pull_url("hf://owner/repo", &err) == NULL);
    CHECK(strstr(err.msg, "hf://OWNER/REPO/FILE") != NULL);
    CHECK(owl_pull_url("hf://owner//x.gguf", &err) == NULL);
    CHECK(owl_pull_url("ftp://host/x.gguf", &err) == NULL);
    CHECK(owl_pull_url("/local/path.gguf", &err) == NULL);
    CHECK(owl_pull_url("http://h/a\nb.gguf", &err) == NULL);
    CHECK(strstr(err.msg, "control character") != NULL);

    owl_model_name n;
    REQUIRE(owl_pull_default_name("https://h/x/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf?download=1", &n,
                                  &err) == 0);
    CHECK_STR(n.name, "qwen2.5-0.5b-instruct-q4_k_m");
    CHECK_STR(n.tag, "latest");
    REQUIRE(owl_pull_default_name("hf://o/r/my model (1).gguf", &n, &err) == 0);
    CHECK_STR(n.name, "my-model-1");
    CHECK(owl_pull_default_name("https://h/", &n, &err) < 0);
}

static void test_durations(void) {
    double v = 0;
    CHECK(owl_parse_duration("300", &v) == 0 && v == 300);
    CHECK(owl_parse_duration("5m", &v) == 0 && v == 300);
    CHECK(owl_parse_duration("1h30m", &v) == 0 && v == 5400);
    CHECK(owl_parse_duration("10s", &v) == 0 && v == 10);
    CHECK(owl_parse_duration("1.5s", &v) == 0 && v == 1.5);
    CHECK(owl_parse_duration("250ms", &v) == 0 && fabs(v - 0.25) < 1e-12);
    CHECK(owl_parse_duration("-1", &v) == 0 && v < 0);
    CHECK(owl_parse_duration("0", &v) == 0 && v == 0);
    CHECK(owl_parse_duration("", &v) < 0);
    CHECK(owl_parse_duration("5x", &v) < 0);
    CHECK(owl_parse_duration("m", &v) < 0);
    CHECK(owl_parse_duration("nan", &v) < 0);
}

int main(void) {
    RUN(test_sha256);
    RUN(test_names);
    RUN(test_store_lifecycle);
    RUN(test_modelfile);
    RUN(test_pull_urls);
    RUN(test_durations);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmpdir());
    if (system(cmd) != 0) printf("  could not remove %s\n", test_tmpdir());
    return test_summary();
}
