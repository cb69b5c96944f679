/* The API adapters and stream writers: request parsing with its 400s, and the exact bytes of
 * every response shape. */
#include "owl/server.h"
#include "server/job.h"
#include "test.h"

#include <math.h>

#define BODY(s) s, sizeof(s) - 1

static const owl_gen_meta meta = {
    .id = "chatcmpl-abc", .created = 1700000000, .created_at = "2023-11-14T22:13:20.000000000Z",
    .model = "m", .fingerprint = "fp_x"};

static void test_chat_parse_full(void) {
    owl_gen_request r;
    owl_api_error e;
    int rc = owl_openai_parse_chat(
        BODY("{\"model\":\"gpt\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hel\"},"
             "{\"type\":\"text\",\"text\":\"lo\"}]},{\"role\":\"assistant\",\"content\":null}],"
             "\"max_tokens\":5,\"max_completion_tokens\":7,\"temperature\":0,\"top_p\":0.5,"
             "\"n\":2,\"stop\":\"\\n\",\"seed\":42,\"presence_penalty\":0.5,"
             "\"frequency_penalty\":-1,\"logit_bias\":{\"15\":-100,\"7\":2.5},\"logprobs\":true,"
             "\"top_logprobs\":3,\"user\":\"u1\",\"stream\":true,"
             "\"stream_options\":{\"include_usage\":true},\"top_k\":10,\"min_p\":0.1,"
             "\"repeat_penalty\":1.1,\"unknown_field\":{\"x\":1}}"),
        &r, &e);
    REQUIRE(rc == 0);
    CHECK_STR(r.model, "gpt");
    CHECK_EQ_INT(r.kind, OWL_API_OPENAI_CHAT);
    CHECK_EQ_INT(r.max_tokens, 7);
    CHECK(r.sampling.temperature == 0.0f);
    CHECK(r.sampling.top_p == 0.5f);
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(r.n_stop, 1);
    CHECK_STR(r.stop[0], "\n");
    CHECK(r.sampling.has_seed && r.sampling.seed == 42);
    CHECK(r.sampling.presence_penalty == 0.5f && r.sampling.frequency_penalty == -1.0f);
    REQUIRE(r.sampling.n_logit_bias == 2);
    CHECK_EQ_INT(r.sampling.logit_bias[0].token, 15);
    CHECK(r.sampling.logit_bias[0].bias == -100.0f);
    CHECK(r.logprobs && r.top_logprobs == 3);
    CHECK_STR(r.user, "u1");
    CHECK(r.stream && r.include_usage);
    CHECK_EQ_INT(r.sampling.top_k, 10);
    CHECK(fabsf(r.sampling.min_p - 0.1f) < 1e-7f && fabsf(r.sampling.repeat_penalty - 1.1f) < 1e-6f);
    char *msgs = json_dumps(r.messages, JSON_COMPACT);
    CHECK_STR(msgs, "[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":"
                    "\"hello\"},{\"role\":\"assistant\",\"content\":\"\"}]");
    free(msgs);
    owl_gen_request_free(&r);
}

static void test_chat_defaults(void) {
    owl_gen_request r;
    owl_api_error e;
    REQUIRE(owl_openai_parse_chat(BODY("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"),
                                  &r, &e) == 0);
    CHECK(r.model == NULL);
    CHECK_EQ_INT(r.max_tokens, -1);
    CHECK_EQ_INT(r.n, 1);
    CHECK(!r.stream && !r.include_usage && !r.sampling.has_seed);
    CHECK(r.sampling.temperature == 0.8f && r.sampling.top_k == 40);
    owl_gen_request_free(&r);
}

/* Each bad body must give 400 naming the param; the expected param is listed beside it. */
static void test_chat_errors(void) {
    static const struct {
        const char *body, *param;
    } cases[] = {
        {"{", ""},
        {"[1,2]", ""},
        {"{\"messages\":[]}", "messages"},
        {"{}", "messages"},
        {"{\"messages\":\"hi\"}", "messages"},
        {"{\"messages\":[1]}", "messages[0]"},
        {"{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0].role"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
         "messages[0].content[0]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}",
         "temperature"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}", "temperature"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":-0.1}", "top_p"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":0}", "n"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", "max_tokens"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":0}",
         "max_completion_tokens"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", "stop"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":\"a\"}", "seed"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"a\":1}}",
         "logit_bias"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"1\":500}}",
         "logit_bias"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}",
         "top_logprobs"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}", "stream"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":"
         "{\"include_usage\":true}}",
         "stream_options"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"presence_penalty\":9}",
         "presence_penalty"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":7}", "model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        owl_gen_request r;
        owl_api_error e;
        int rc = owl_openai_parse_chat(cases[i].body, strlen(cases[i].body), &r, &e);
        CHECKF(rc == -1 && e.status == 400, "case %zu rc=%d", i, rc);
        CHECKF(strcmp(e.param, cases[i].param) == 0, "case %zu param '%s' want '%s'", i, e.param,
               cases[i].param);
        CHECKF(e.message[0] != '\0' && !strchr(e.message, '\n'), "case %zu message", i);
    }
}

static void test_completion_parse(void) {
    owl_gen_request r;
    owl_api_error e;
    REQUIRE(owl_openai_parse_completion(BODY("{\"prompt\":[\"a\",\"b\"],\"n\":2,\"logprobs\":2,"
                                             "\"echo\":true,\"stop\":[\"x\",\"\"]}"),
                                        &r, &e) == 0);
    CHECK_EQ_INT(r.n_prompts, 2);
    CHECK_STR(r.prompts[1], "b");
    CHECK(r.logprobs && r.top_logprobs == 2 && r.echo);
    CHECK_EQ_INT(r.n_stop, 1); /* the empty stop string is dropped */
    owl_gen_request_free(&r);
    REQUIRE(owl_openai_parse_completion(BODY("{\"prompt\":\"one\"}"), &r, &e) == 0);
    CHECK_EQ_INT(r.n_prompts, 1);
    CHECK_STR(r.prompts[0], "one");
    owl_gen_request_free(&r);
    CHECK(owl_openai_parse_completion(BODY("{}"), &r, &e) == -1);
    CHECK_STR(e.param, "prompt");
    CHECK(owl_openai_parse_completion(BODY("{\"prompt\":[1,2]}"), &r, &e) == -1);
    CHECK_STR(e.param, "prompt");
    CHECK(owl_openai_parse_completion(BODY("{\"prompt\":\"x\",\"logprobs\":true}"), &r, &e) ==
          -1);
    CHECK_STR(e.param, "logprobs");
}

static void test_ollama_parse(void) {
    owl_gen_request r;
    owl_api_error e;
    REQUIRE(owl_ollama_parse_chat(
                BODY("{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                     "\"keep_alive\":\"1h30m\",\"options\":{\"num_ctx\":2048,\"num_predict\":-2,"
                     "\"temperature\":0.2,\"top_k\":5,\"top_p\":0.9,\"min_p\":0.01,\"seed\":7,"
                     "\"stop\":[\"</s>\"],\"repeat_penalty\":1.2,\"repeat_last_n\":32,"
                     "\"mirostat\":0}}"),
                &r, &e) == 0);
    CHECK(r.stream); /* Ollama's default */
    CHECK_EQ_INT(r.num_ctx, 2048);
    CHECK_EQ_INT(r.max_tokens, -1);
    CHECK(r.sampling.temperature == 0.2f && r.sampling.top_k == 5);
    CHECK(r.sampling.has_seed && r.sampling.seed == 7);
    CHECK_EQ_INT(r.n_stop, 1);
    CHECK_EQ_INT(r.sampling.repeat_last_n, 32);
    CHECK(r.keep_alive_s == 5400.0);
    owl_gen_request_free(&r);

    REQUIRE(owl_ollama_parse_generate(BODY("{\"model\":\"m\",\"prompt\":\"p\",\"stream\":false,"
                                           "\"system\":\"s\",\"raw\":true,\"keep_alive\":-1,"
                                           "\"options\":{\"num_predict\":12}}"),
                                      &r, &e) == 0);
    CHECK(!r.stream && r.raw);
    CHECK_STR(r.prompts[0], "p");
    CHECK_STR(r.system, "s");
    CHECK_EQ_INT(r.max_tokens, 12);
    CHECK(r.keep_alive_s == -1.0);
    owl_gen_request_free(&r);

    CHECK(owl_ollama_parse_chat(BODY("{\"options\":{\"top_k\":\"x\"}}"), &r, &e) == -1);
    CHECK_STR(e.param, "options.top_k");
    CHECK(owl_ollama_parse_chat(BODY("{\"keep_alive\":\"soon\"}"), &r, &e) == -1);
    CHECK_STR(e.param, "keep_alive");
    CHECK(owl_ollama_parse_generate(BODY("{\"prompt\":3}"), &r, &e) == -1);
    CHECK_STR(e.param, "prompt");
    CHECK(owl_ollama_parse_chat(BODY("{\"messages\":[{\"role\":\"user\",\"content\":[]}]}"), &r,
                                &e) == -1);
    CHECK_STR(e.param, "messages[0].content");
}

static void test_error_json(void) {
    owl_api_error e;
    owl_api_errorf(&e, 400, NULL, "temperature", NULL, "bad %s", "value");
    char *s = owl_openai_error_json(&e);
    CHECK_STR(s, "{\"error\":{\"message\":\"bad value\",\"type\":\"invalid_request_error\","
                 "\"param\":\"temperature\",\"code\":null}}");
    free(s);
    owl_api_errorf(&e, 401, NULL, NULL, "invalid_api_key", "no key");
    s = owl_openai_error_json(&e);
    CHECK_STR(s, "{\"error\":{\"message\":\"no key\",\"type\":\"invalid_request_error\","
                 "\"param\":null,\"code\":\"invalid_api_key\"}}");
    free(s);
    s = owl_ollama_error_json(&e);
    CHECK_STR(s, "{\"error\":\"no key\"}");
    free(s);
}

static void test_openai_responses(void) {
    owl_gen_usage u = {.prompt_tokens = 10, .completion_tokens = 3, .cached_tokens = 4};
    owl_gen_choice c[2] = {{"Hi \"you\"", OWL_FINISH_STOP, NULL}, {"x", OWL_FINISH_LENGTH, NULL}};
    char *s = owl_openai_chat_response(&meta, c, 2, &u);
    CHECK_STR(s, "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion\",\"created\":1700000000,"
                 "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                 "\"content\":\"Hi \\\"you\\\"\",\"refusal\":null},\"logprobs\":null,"
                 "\"finish_reason\":\"stop\"},{\"index\":1,\"message\":{\"role\":\"assistant\","
                 "\"content\":\"x\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":"
                 "\"length\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,"
                 "\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":4}},"
                 "\"system_fingerprint\":\"fp_x\"}");
    free(s);
    s = owl_openai_completion_response(&meta, c, 1, &u);
    CHECK_STR(s, "{\"id\":\"chatcmpl-abc\",\"object\":\"text_completion\",\"created\":1700000000,"
                 "\"model\":\"m\",\"choices\":[{\"text\":\"Hi \\\"you\\\"\",\"index\":0,"
                 "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,"
                 "\"completion_tokens\":3,\"total_tokens\":13,\"prompt_tokens_details\":"
                 "{\"cached_tokens\":4}},\"system_fingerprint\":\"fp_x\"}");
    free(s);
}

static void test_openai_chunks(void) {
    char *s = owl_openai_chat_chunk(&meta, 0, "assistant", "", OWL_FINISH_NONE, false, NULL);
    CHECK_STR(s, "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":"
                 "1700000000,\"model\":\"m\",\"system_fingerprint\":\"fp_x\",\"choices\":[{\"index\":"
                 "0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                 "\"finish_reason\":null}]}");
    size_t n;
    char *f = owl_sse_frame(s, &n);
    CHECK(n == strlen(s) + 8 && strncmp(f, "data: {", 7) == 0 && strcmp(f + n - 3, "}\n\n") == 0);
    free(f);
    free(s);
    s = owl_openai_chat_chunk(&meta, 1, NULL, "lo", OWL_FINISH_NONE, true, NULL);
    CHECK_STR(s, "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":"
                 "1700000000,\"model\":\"m\",\"system_fingerprint\":\"fp_x\",\"choices\":[{\"index\":"
                 "1,\"delta\":{\"content\":\"lo\"},\"logprobs\":null,\"finish_reason\":null}],"
                 "\"usage\":null}");
    free(s);
    s = owl_openai_chat_chunk(&meta, 0, NULL, NULL, OWL_FINISH_LENGTH, false, NULL);
    CHECK_STR(s, "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":"
                 "1700000000,\"model\":\"m\",\"system_fingerprint\":\"fp_x\",\"choices\":[{\"index\":"
                 "0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}");
    free(s);
    owl_gen_usage u = {.prompt_tokens = 2, .completion_tokens = 1};
    s = owl_openai_usage_chunk(&meta, true, &u);
    CHECK_STR(s, "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":"
                 "1700000000,\"model\":\"m\",\"system_fingerprint\":\"fp_x\",\"choices\":[],"
                 "\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1,\"total_tokens\":3,"
                 "\"prompt_tokens_details\":{\"cached_tokens\":0}}}");
    free(s);
    s = owl_openai_completion_chunk(&meta, 0, "ab", OWL_FINISH_NONE, false, NULL);
    CHECK_STR(s, "{\"id\":\"chatcmpl-abc\",\"object\":\"text_completion\",\"created\":1700000000,"
                 "\"model\":\"m\",\"choices\":[{\"text\":\"ab\",\"index\":0,\"logprobs\":null,"
                 "\"finish_reason\":null}],\"system_fingerprint\":\"fp_x\"}");
    free(s);
    CHECK_STR(OWL_SSE_DONE, "data: [DONE]\n\n");
}

/* logprobs in both shapes; a token holding half a character shows U+FFFD but its exact bytes. */
static void test_openai_logprobs(void) {
    owl_gen_top_logprob top[2] = {{"Hi", 2, -0.5f}, {"\xC3", 1, -1.0f}};
    owl_gen_token t[2] = {{"Hi", 2, -0.5f, top, 2}, {"\xC3", 1, -INFINITY, NULL, 0}};
    json_t *acc = json_object();
    size_t off = 0;
    owl_openai_logprobs_append(acc, true, t, 1, &off);
    owl_openai_logprobs_append(acc, true, t + 1, 1, &off);
    char *s = owl_openai_chat_chunk(&meta, 0, NULL, "Hi", OWL_FINISH_NONE, false, acc);
    CHECK_STR(s, "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":"
                 "1700000000,\"model\":\"m\",\"system_fingerprint\":\"fp_x\",\"choices\":[{\"index\":"
                 "0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":{\"content\":[{\"token\":\"Hi\","
                 "\"logprob\":-0.5,\"bytes\":[72,105],\"top_logprobs\":[{\"token\":\"Hi\",\"logprob\":"
                 "-0.5,\"bytes\":[72,105]},{\"token\":\"\xEF\xBF\xBD\",\"logprob\":-1.0,\"bytes\":[195]}]},"
                 "{\"token\":\"\xEF\xBF\xBD\",\"logprob\":-9999.0,\"bytes\":[195],\"top_logprobs\":[]}],"
                 "\"refusal\":null},\"finish_reason\":null}]}");
    free(s);
    json_decref(acc);

    acc = json_object();
    off = 3;
    owl_openai_logprobs_append(acc, false, t, 2, &off);
    CHECK_EQ_INT(off, 6);
    owl_gen_choice c = {"Hi", OWL_FINISH_LENGTH, acc};
    owl_gen_usage u = {.prompt_tokens = 1, .completion_tokens = 2};
    s = owl_openai_completion_response(&meta, &c, 1, &u);
    CHECK_STR(s, "{\"id\":\"chatcmpl-abc\",\"object\":\"text_completion\",\"created\":1700000000,"
                 "\"model\":\"m\",\"choices\":[{\"text\":\"Hi\",\"index\":0,\"logprobs\":{\"tokens\":"
                 "[\"Hi\",\"\xEF\xBF\xBD\"],\"token_logprobs\":[-0.5,-9999.0],\"top_logprobs\":[{\"Hi\":-0.5,"
                 "\"\xEF\xBF\xBD\":-1.0},{}],\"text_offset\":[3,5]},\"finish_reason\":\"length\"}],"
                 "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3,"
                 "\"prompt_tokens_details\":{\"cached_tokens\":0}},\"system_fingerprint\":\"fp_x\"}");
    free(s);
    json_decref(acc);
}

static void test_ollama_responses(void) {
    char *s = owl_ollama_chat_chunk(&meta, "The");
    CHECK_STR(s, "{\"model\":\"m\",\"created_at\":\"2023-11-14T22:13:20.000000000Z\",\"message\":"
                 "{\"role\":\"assistant\",\"content\":\"The\"},\"done\":false}");
    size_t n;
    char *f = owl_ndjson_frame(s, &n);
    CHECK(n == strlen(s) + 1 && f[n - 1] == '\n');
    free(f);
    free(s);
    owl_gen_usage u = {.prompt_tokens = 26, .completion_tokens = 259, .load_ns = 1, .prompt_ns = 2,
                       .eval_ns = 3, .total_ns = 6};
    s = owl_ollama_chat_final(&meta, "", OWL_FINISH_STOP, &u);
    CHECK_STR(s, "{\"model\":\"m\",\"created_at\":\"2023-11-14T22:13:20.000000000Z\",\"message\":"
                 "{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,"
                 "\"total_duration\":6,\"load_duration\":1,\"prompt_eval_count\":26,"
                 "\"prompt_eval_duration\":2,\"eval_count\":259,\"eval_duration\":3}");
    free(s);
    s = owl_ollama_generate_chunk(&meta, " sky");
    CHECK_STR(s, "{\"model\":\"m\",\"created_at\":\"2023-11-14T22:13:20.000000000Z\",\"response\":"
                 "\" sky\",\"done\":false}");
    free(s);
    s = owl_ollama_generate_final(&meta, "all", OWL_FINISH_LENGTH, &u);
    CHECK_STR(s, "{\"model\":\"m\",\"created_at\":\"2023-11-14T22:13:20.000000000Z\",\"response\":"
                 "\"all\",\"done\":true,\"done_reason\":\"length\",\"total_duration\":6,"
                 "\"load_duration\":1,\"prompt_eval_count\":26,\"prompt_eval_duration\":2,"
                 "\"eval_count\":259,\"eval_duration\":3}");
    free(s);
}

static void test_rfc3339(void) {
    char buf[64];
    owl_rfc3339_ns(buf, sizeof buf, 1700000000123456789LL);
    CHECK_STR(buf, "2023-11-14T22:13:20.123456789Z");
    owl_rfc3339_ns(buf, sizeof buf, 0);
    CHECK_STR(buf, "1970-01-01T00:00:00.000000000Z");
}

/* Every prefix of valid bodies, and single-byte corruptions, must parse or fail with a 400 and
 * one-line message, never crash (the sanitizer build checks memory). */
static void test_parse_truncations(void) {
    static const char *const bodies[] = {
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":\"h\u00e9\"}]}],\"stop\":[\"a\"],\"logit_bias\":{\"1\":2},\"n\":2}",
        "{\"prompt\":[\"a\",\"b\"],\"options\":{\"num_predict\":3,\"stop\":\"x\"},"
        "\"keep_alive\":\"5m\"}",
    };
    typedef int (*parse_fn)(const char *, size_t, owl_gen_request *, owl_api_error *);
    static const parse_fn fns[] = {owl_openai_parse_chat, owl_openai_parse_completion,
                                   owl_ollama_parse_chat, owl_ollama_parse_generate};
    int ok = 0, rejected = 0;
    for (size_t b = 0; b < 2; b++) {
        size_t n = strlen(bodies[b]);
        char *buf = malloc(n);
        REQUIRE(buf);
        for (size_t cut = 0; cut <= n; cut++) {
            for (int mutate = 0; mutate < 2; mutate++) {
                memcpy(buf, bodies[b], n);
                if (mutate && cut < n) buf[cut] = (char)(buf[cut] ^ 0x5a);
                size_t len = mutate ? n : cut;
                for (size_t f = 0; f < 4; f++) {
                    owl_gen_request r;
                    owl_api_error e;
                    if (fns[f](buf, len, &r, &e) == 0) {
                        ok++;
                        owl_gen_request_free(&r);
                    } else {
                        rejected++;
                        CHECK(e.status == 400 && e.message[0] && !strchr(e.message, '\n'));
                    }
                }
            }
        }
        free(buf);
    }
    CHECK(ok > 0 && rejected > 0);
}

/* The job turns backend events into the API's bytes; text that is not UTF-8 is repaired. */
static void test_job_events(void) {
    owl_gen_request r;
    owl_api_error e;
    REQUIRE(owl_openai_parse_chat(BODY("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                                       "\"n\":2}"),
                                  &r, &e) == 0);
    owl_job *j = owl_job_new(&r, "m");
    REQUIRE(j);
    CHECK_EQ_INT(owl_job_n_choices(j), 2);
    owl_job_prompt_done(j, 0, 7, 2);
    owl_job_prompt_done(j, 1, 7, 2);
    owl_job_text(j, 0, "ok \xC3", 4, 2); /* a split character */
    owl_job_text(j, 1, "b", 1, 1);
    owl_job_finish(j, 1, OWL_FINISH_LENGTH);
    CHECK(!owl_job_wait(j, 0));
    owl_job_finish(j, 0, OWL_FINISH_STOP);
    owl_job_finish(j, 0, OWL_FINISH_STOP); /* a second finish is ignored */
    REQUIRE(owl_job_wait(j, 0));
    int status = 0;
    char *body = owl_job_body(j, &status);
    CHECK_EQ_INT(status, 200);
    REQUIRE(body);
    CHECK(strstr(body, "\"content\":\"ok \xEF\xBF\xBD\"") != NULL);
    CHECK(strstr(body, "\"finish_reason\":\"length\"") != NULL);
    CHECK(strstr(body, "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10,"
                       "\"prompt_tokens_details\":{\"cached_tokens\":2}}") != NULL);
    free(body);
    owl_job_release(j);
}

/* Messages quote the request (the JSON parser's excerpt, a key, a model name): whatever it holds,
 * the error stays one line of valid UTF-8 and its JSON can be written. */
static void test_error_text_is_clean(void) {
    owl_api_error e;
    owl_gen_request r;
    const char body[] = "{\"prom,\":0,\"sto\\\n\":[\"\",\"x\"]}"; /* a bad escape across a newline */
    CHECK(owl_openai_parse_completion(body, sizeof body - 1, &r, &e) == -1);
    CHECK(strchr(e.message, '\n') == NULL);
    CHECK(strstr(e.message, "invalid JSON body") != NULL);
    /* invalid UTF-8 and control characters quoted into the message and the parameter */
    owl_api_errorf(&e, 400, NULL, "a\x01" "b\xff", NULL, "model '%s' bad\tvalue \xe2\x82", "\xc3(");
    CHECK_STR(e.param, "a b?");
    CHECK(owl_utf8_valid(e.message, strlen(e.message)));
    CHECK(strchr(e.message, '\t') == NULL);
    /* a message cut inside a multi-byte character by the buffer's size */
    char big[600];
    memset(big, 'x', sizeof big);
    for (size_t i = 0; i + 2 < sizeof big; i += 2) memcpy(big + i, "\xc3\xa9", 2); /* é é é ... */
    big[sizeof big - 1] = '\0';
    owl_api_errorf(&e, 400, NULL, NULL, NULL, "x%s", big);
    CHECK(owl_utf8_valid(e.message, strlen(e.message)));
    char *s = owl_openai_error_json(&e);
    CHECK(s != NULL);
    free(s);
}

int main(void) {
    RUN(test_chat_parse_full);
    RUN(test_chat_defaults);
    RUN(test_chat_errors);
    RUN(test_completion_parse);
    RUN(test_ollama_parse);
    RUN(test_error_json);
    RUN(test_error_text_is_clean);
    RUN(test_openai_responses);
    RUN(test_openai_chunks);
    RUN(test_openai_logprobs);
    RUN(test_ollama_responses);
    RUN(test_rfc3339);
    RUN(test_parse_truncations);
    RUN(test_job_events);
    return test_summary();
}
