/* owl ps: the models a running `owl serve` has loaded (GET /api/ps). */
#include "cli/commands.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: owl ps [--host H] [--port P] [--json]\n"
    "\n"
    "Asks a running 'owl serve' which models it has loaded: name, id, memory and when each\n"
    "unloads. The server is --host/--port, else $OWL_HOST (HOST:PORT or a URL), else\n"
    "127.0.0.1:8080.\n"
    "\n"
    "  --json   the /api/ps answer as it came\n";

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_data(char *d, size_t size, size_t nmemb, void *user) {
    buf *b = user;
    size_t n = size * nmemb;
    if (b->n + n > (4u << 20)) return 0;
    char *q = realloc(b->p, b->n + n + 1);
    if (!q) return 0;
    memcpy(q + b->n, d, n);
    b->p = q;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* "2025-01-01T00:00:00.123Z" → "in 4 minutes" / "forever" */
static void until(char *out, size_t n, const char *rfc) {
    struct tm tm = {0};
    if (!rfc || !strptime(rfc, "%Y-%m-%dT%H:%M:%S", &tm)) {
        snprintf(out, n, "-");
        return;
    }
    if (tm.tm_year + 1900 >= 2200) {
        snprintf(out, n, "Forever");
        return;
    }
    long long d = (long long)(timegm(&tm) - time(NULL));
    if (d <= 0) snprintf(out, n, "now");
    else if (d < 120) snprintf(out, n, "%lld seconds from now", d);
    else if (d < 7200) snprintf(out, n, "%lld minutes from now", d / 60);
    else snprintf(out, n, "%lld hours from now", d / 3600);
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *arg, *host = NULL, *port = NULL;
    bool flag, as_json = false;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) return cli_error("ps: unexpected argument '%s'", arg);
        if (cli_flag_is(arg, "--json")) as_json = true;
        else if (cli_flag_is(arg, "--host")) {
            if (!(host = cli_args_value(&a, "--host"))) return 1;
        } else if (cli_flag_is(arg, "--port")) {
            long long p;
            if (!(port = cli_args_value(&a, "--port")) || !cli_parse_int("--port", port, 1, 65535, &p))
                return 1;
        } else return cli_error("ps: unknown option %s (see 'owl help ps')", arg);
    }
    char url[512];
    const char *env = getenv("OWL_HOST");
    if (!host && !port && env && *env) {
        bool scheme = strncmp(env, "http://", 7) == 0 || strncmp(env, "https://", 8) == 0;
        size_t n = strlen(env);
        while (n && env[n - 1] == '/') n--;
        snprintf(url, sizeof url, "%s%.*s/api/ps", scheme ? "" : "http://", (int)n, env);
    } else {
        snprintf(url, sizeof url, "http://%s:%s/api/ps", host ? host : "127.0.0.1",
                 port ? port : "8080");
    }
    CURL *c = curl_easy_init();
    if (!c) return cli_error("ps: cannot start libcurl");
    buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    const char *key = getenv("OWL_API_KEY");
    struct curl_slist *h = NULL;
    char auth[600];
    if (key && *key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %.500s", key);
        h = curl_slist_append(h, auth);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    }
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (cc != CURLE_OK) {
        free(b.p);
        return cli_error("ps: %s: %s (is 'owl serve' running?)", url, curl_easy_strerror(cc));
    }
    json_t *o = b.p ? json_loadb(b.p, b.n, 0, NULL) : NULL;
    if (code != 200 || !json_is_array(json_object_get(o, "models"))) {
        json_decref(o);
        free(b.p);
        return cli_error("ps: %s: HTTP %ld, not an /api/ps answer", url, code);
    }
    if (as_json) {
        fwrite(b.p, 1, b.n, stdout);
        if (b.n && b.p[b.n - 1] != '\n') fputc('\n', stdout);
    } else {
        printf("%-40s %-12s %-10s %s\n", "NAME", "ID", "SIZE", "UNTIL");
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(o, "models"), i, m) {
            char size[32], when[64];
            cli_fmt_bytes(size, sizeof size, (double)json_integer_value(json_object_get(m, "size")));
            until(when, sizeof when, json_string_value(json_object_get(m, "expires_at")));
            const char *dg = json_string_value(json_object_get(m, "digest"));
            printf("%-40s %-12.12s %-10s %s\n", json_string_value(json_object_get(m, "name")),
                   dg ? dg : "", size, when);
        }
    }
    json_decref(o);
    free(b.p);
    return 0;
}

const cli_command cmd_ps = {"ps", run, "list the models a running server has loaded", usage};
