/* owl pull: downloads a GGUF file into the store through libcurl.
 *
 * The bytes go to blobs/partial/<key>.partial, where key is derived from the URL, so a pull that
 * was cut off resumes with "Range: bytes=<size>-" the next time the same URL is pulled. A server
 * that answers 200 instead of 206 ignored the Range: the partial file is truncated and the whole
 * file is taken again. Once the transfer is complete the file is hashed; a digest that differs
 * from the expected one deletes the download. The blob is then renamed into place (same folder
 * tree, so the rename is atomic) and the manifest is written.
 *
 * A resumed request carries If-Range with the validator (strong ETag, else Last-Modified) of the
 * response that started the file, kept next to it in <key>.partial.validator: if the file changed
 * on the server since, the server answers 200 and the download starts over instead of appending
 * the new file's tail to the old file's head.
 *
 * The expected digest comes, in this order, from the caller (--sha256) or from the server: the
 * X-Linked-Etag header Hugging Face sends for files kept in Git LFS (it is the SHA-256 of the
 * content), or an ETag that is exactly 64 hex digits. Without either, the download is still named
 * by the digest computed here, and nothing more can be checked. */
#include "owl/store.h"
#include "store/store_internal.h"

#include <curl/curl.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

const char *owl_pull_env_token(const char *url) {
    const char *t = getenv("HF_TOKEN");
    if (!t || !*t) return NULL;
    if (strncmp(url, "hf://", 5) == 0) return t;
    const char *host = strncmp(url, "https://", 8) == 0 ? url + 8 : NULL;
    if (!host) return NULL; /* never over plain http */
    size_t n = strcspn(host, "/:?#");
    const char hf[] = "huggingface.co";
    const size_t k = sizeof hf - 1;
    /* huggingface.co or a subdomain of it */
    if (n == k && strncmp(host, hf, k) == 0) return t;
    if (n > k && host[n - k - 1] == '.' && strncmp(host + n - k, hf, k) == 0) return t;
    return NULL;
}

char *owl_pull_url(const char *url, owl_error *err) {
    for (const char *q = url; *q; q++) {
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) {
            owl_errorf(err, "the URL contains a space or a control character");
            return NULL;
        }
    }
    if (strncmp(url, "hf://", 5) == 0) {
        /* hf://OWNER/REPO/PATH/TO/FILE.gguf */
        const char *p = url + 5;
        const char *s1 = strchr(p, '/');
        const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s1 || !s2 || s1 == p || s2 == s1 + 1 || !s2[1]) {
            owl_errorf(err, "%.200s: expected hf://OWNER/REPO/FILE.gguf", url);
            return NULL;
        }
        for (const char *q = p; *q; q++) {
            if ((unsigned char)*q <= 0x20 || *q == '?' || *q == '#' || *q == '\\' || *q == '%') {
                owl_errorf(err, "%.200s: unexpected character in the path", url);
                return NULL;
            }
        }
        size_t n = strlen(url) + 64;
        char *u = malloc(n);
        if (!u) {
            owl_errorf(err, "out of memory");
            return NULL;
        }
        snprintf(u, n, "https://huggingface.co/%.*s/resolve/main/%s", (int)(s2 - p), p, s2 + 1);
        return u;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        owl_errorf(err, "%.200s: not a URL (http://, https:// or hf://OWNER/REPO/FILE)", url);
        return NULL;
    }
    char *u = strdup(url);
    if (!u) owl_errorf(err, "out of memory");
    return u;
}

int owl_pull_default_name(const char *url, owl_model_name *out, owl_error *err) {
    const char *end = url + strcspn(url, "?#");
    const char *base = end;
    while (base > url && base[-1] != '/') base--;
    size_t n = (size_t)(end - base);
    if (n > 5 && strncasecmp(end - 5, ".gguf", 5) == 0) n -= 5;
    char name[OWL_NAME_MAX + 1];
    size_t k = 0;
    for (size_t i = 0; i < n && k < OWL_NAME_MAX; i++) {
        unsigned char c = (unsigned char)tolower((unsigned char)base[i]);
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
        if (!ok && k && name[k - 1] == '-') continue;
        name[k++] = ok ? (char)c : '-';
    }
    while (k && (name[0] == '-' || name[0] == '.')) memmove(name, name + 1, --k);
    while (k && (name[k - 1] == '-' || name[k - 1] == '.')) k--;
    name[k] = '\0';
    if (!k) return owl_errorf(err, "%.200s: no file name to name the model by (use --name)", url);
    return owl_model_name_parse(name, out, err);
}

/* ---- the transfer ---------------------------------------------------------------------------- */

typedef struct dl {
    const owl_pull_opts *o;
    CURL *curl;
    int fd;
    const char *dir;          /* where the partial lives, for the free-space check */
    uint64_t offset;          /* bytes in the partial when the request went out */
    uint64_t written;         /* bytes written by this request */
    uint64_t total;           /* the whole file, 0 while unknown */
    bool body_started, restarted;
    /* from the headers of the current response */
    uint64_t range_start, range_total, content_length;
    bool have_range, have_length;
    char hf_sha[65];          /* X-Linked-Etag */
    char etag_sha[65];        /* ETag, when it is a bare SHA-256 */
    char etag[160];           /* the strong ETag of the current response, as sent */
    char last_modified[80];   /* its Last-Modified */
    const char *vpath;        /* where the validator of the partial file is kept */
    char expected[65];        /* what the digest must be ("" unknown) */
    char failure[320];        /* why the write callback stopped the transfer */
    int64_t last_report_ns;
    bool cancelled;
} dl;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int report(dl *d, const char *status, const char *digest, uint64_t total,
                  uint64_t completed) {
    if (!d->o || !d->o->progress) return 0;
    owl_pull_progress p = {status, digest, total, completed};
    return d->o->progress(d->o->user, &p);
}

/* A header value that is a SHA-256: quotes and a weak-validator prefix are dropped. */
static void take_sha(const char *v, size_t n, char out[65]) {
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    if (n >= 2 && v[0] == 'W' && v[1] == '/') v += 2, n -= 2;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') v++, n -= 2;
    if (n != 64) return;
    char buf[65];
    for (size_t i = 0; i < 64; i++) buf[i] = (char)tolower((unsigned char)v[i]);
    buf[64] = '\0';
    if (owl_sha256_hex_valid(buf)) memcpy(out, buf, 65);
}

/* A header value, trimmed, when it fits and is plain printable ASCII; else "". */
static void keep_header(const char *v, size_t n, char *out, size_t size) {
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    out[0] = '\0';
    if (n == 0 || n >= size) return;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e) return;
    }
    memcpy(out, v, n);
    out[n] = '\0';
}

static bool header_is(const char *line, size_t n, const char *name, const char **value,
                      size_t *vn) {
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':') return false;
    *value = line + k + 1;
    *vn = n - k - 1;
    return true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *user) {
    dl *d = user;
    size_t n = size * nitems;
    const char *v;
    size_t vn;
    char tmp[128];
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* a new response (after a redirect): forget the previous one's framing */
        d->have_range = d->have_length = false;
        d->etag_sha[0] = d->etag[0] = d->last_modified[0] = '\0';
    } else if (header_is(line, n, "Content-Range", &v, &vn)) {
        snprintf(tmp, sizeof tmp, "%.*s", (int)(vn < 127 ? vn : 127), v);
        unsigned long long a, b, t;
        if (sscanf(tmp, " bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
            d->range_start = a;
            d->range_total = t;
            d->have_range = true;
        } else if (sscanf(tmp, " bytes */%llu", &t) == 1) {
            d->range_start = 0;
            d->range_total = t;
            d->have_range = true;
        }
    } else if (header_is(line, n, "Content-Length", &v, &vn)) {
        snprintf(tmp, sizeof tmp, "%.*s", (int)(vn < 127 ? vn : 127), v);
        char *end;
        unsigned long long t = strtoull(tmp, &end, 10);
        if (end != tmp) {
            d->content_length = t;
            d->have_length = true;
        }
    } else if (header_is(line, n, "X-Linked-Etag", &v, &vn)) {
        take_sha(v, vn, d->hf_sha);
    } else if (header_is(line, n, "ETag", &v, &vn)) {
        take_sha(v, vn, d->etag_sha);
        keep_header(v, vn, d->etag, sizeof d->etag);
        if (strncmp(d->etag, "W/", 2) == 0) d->etag[0] = '\0'; /* If-Range needs a strong one */
    } else if (header_is(line, n, "Last-Modified", &v, &vn)) {
        keep_header(v, vn, d->last_modified, sizeof d->last_modified);
    }
    return n;
}

static void fmt_size(char *buf, size_t n, uint64_t b) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.1f GiB", (double)b / (1ull << 30));
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.1f MiB", (double)b / (1ull << 20));
    else snprintf(buf, n, "%" PRIu64 " bytes", b);
}

/* The first body bytes of a response: decide between appending, starting over and failing. */
static int start_body(dl *d) {
    long code = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 300) return -1; /* reported after the transfer from the status */
    if (code == 206) {
        if (!d->have_range || d->range_start != d->offset) {
            snprintf(d->failure, sizeof d->failure,
                     "the server resumed at byte %llu instead of %llu",
                     (unsigned long long)d->range_start, (unsigned long long)d->offset);
            return -1;
        }
        d->total = d->range_total;
    } else {
        if (d->offset) {
            /* The server ignored the Range header: take the whole file again. */
            if (ftruncate(d->fd, 0) < 0 || lseek(d->fd, 0, SEEK_SET) < 0) {
                snprintf(d->failure, sizeof d->failure, "cannot truncate the partial file: %s",
                         strerror(errno));
                return -1;
            }
            d->offset = 0;
            d->restarted = true;
        }
        d->total = d->have_length ? d->content_length : 0;
        /* The file starts here: remember what identifies this version of it. */
        const char *val = d->etag[0] ? d->etag : d->last_modified;
        if (*val) owl_write_file_atomic(d->vpath, val, strlen(val), NULL);
        else unlink(d->vpath);
    }
    if (d->total && d->total > d->offset) {
        struct statvfs vfs;
        uint64_t need = d->total - d->offset;
        if (statvfs(d->dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
            char a[32], b[32];
            fmt_size(a, sizeof a, need);
            fmt_size(b, sizeof b, (uint64_t)vfs.f_bavail * vfs.f_frsize);
            snprintf(d->failure, sizeof d->failure,
                     "not enough disk space in %s: the download needs %s, %s are free", d->dir, a,
                     b);
            return -1;
        }
    }
    d->body_started = true;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
    dl *d = user;
    size_t n = size * nmemb;
    if (!d->body_started) {
        if (start_body(d) < 0) return 0;
        /* where this transfer starts: a progress display measures its rate from here */
        d->last_report_ns = now_ns();
        if (report(d, "downloading", d->expected[0] ? d->expected : NULL, d->total, d->offset)) {
            d->cancelled = true;
            return 0;
        }
    }
    if (store_write_all(d->fd, data, n) < 0) {
        snprintf(d->failure, sizeof d->failure, "writing the partial file: %s",
                 strerror(errno ? errno : EIO));
        return 0;
    }
    d->written += n;
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    dl *d = user;
    if (!d->body_started) return 0;
    int64_t t = now_ns();
    if (t - d->last_report_ns < 100 * 1000000LL) return 0; /* at most ten reports a second */
    d->last_report_ns = t;
    if (report(d, "downloading", d->expected[0] ? d->expected : NULL, d->total,
               d->offset + d->written)) {
        d->cancelled = true;
        return 1;
    }
    return 0;
}

/* One request from the current end of the partial file. Returns the HTTP status (0 for a
 * transport failure, with *cc set). */
static long transfer(dl *d, const char *url, CURLcode *cc) {
    struct stat st;
    d->offset = fstat(d->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    lseek(d->fd, (off_t)d->offset, SEEK_SET);
    d->written = 0;
    d->body_started = false;
    d->have_range = d->have_length = false;
    d->failure[0] = '\0';
    CURL *c = d->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_USERAGENT, "owl/" OWL_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a stalled transfer counts as interrupted */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    char range[64];
    struct curl_slist *hdrs = NULL;
    if (d->offset) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)d->offset);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
        size_t vn = 0;
        char *val = owl_read_file(d->vpath, 150, &vn, NULL);
        if (val && vn) {
            char h[200];
            snprintf(h, sizeof h, "If-Range: %s", val);
            hdrs = curl_slist_append(hdrs, h);
        }
        free(val);
    }
    if (d->o->bearer_token) {
        /* checked printable by owl_store_pull; libcurl keeps a custom Authorization header to
         * the first host (CURLOPT_UNRESTRICTED_AUTH stays off) */
        char h[1100];
        snprintf(h, sizeof h, "Authorization: Bearer %s", d->o->bearer_token);
        hdrs = curl_slist_append(hdrs, h);
    }
    if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    *cc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static const char *reason(long code) {
    switch (code) {
    case 401: return " Unauthorized";
    case 403: return " Forbidden";
    case 404: return " Not Found";
    case 410: return " Gone";
    case 429: return " Too Many Requests";
    case 500: return " Internal Server Error";
    case 502: return " Bad Gateway";
    case 503: return " Service Unavailable";
    default: return "";
    }
}

static void partial_path(const owl_store *s, const char *url, char **path, char **dir,
                         char **vpath) {
    owl_sha256 *h = owl_sha256_new();
    char hex[65] = "0";
    if (h) {
        owl_sha256_update(h, url, strlen(url));
        owl_sha256_final(h, hex);
    }
    char rel[96];
    snprintf(rel, sizeof rel, "blobs/partial/%.32s.partial", hex);
    *path = store_path(s, rel);
    *dir = store_path(s, "blobs/partial");
    strcat(rel, ".validator");
    *vpath = store_path(s, rel);
}

int owl_store_pull(const owl_store *s, const char *url_in, const owl_pull_opts *opts,
                   owl_manifest *out, owl_error *err) {
    static const owl_pull_opts none = {0};
    const owl_pull_opts *o = opts ? opts : &none;
    if (out) memset(out, 0, sizeof *out);
    owl_model_name name;
    if (o->name ? owl_model_name_parse(o->name, &name, err) < 0
                : owl_pull_default_name(url_in, &name, err) < 0) {
        return -1;
    }
    if (o->expected_sha256 && !owl_sha256_hex_valid(o->expected_sha256)) {
        return owl_errorf(err, "--sha256 must be 64 hex digits");
    }
    if (o->bearer_token) {
        /* it goes into a header line: printable ASCII, no spaces, a sane length */
        size_t n = strlen(o->bearer_token);
        bool ok = n > 0 && n <= 1024;
        for (size_t i = 0; ok && i < n; i++) ok = o->bearer_token[i] > 0x20 && o->bearer_token[i] < 0x7f;
        if (!ok) return owl_errorf(err, "the access token must be 1 to 1024 printable characters without spaces");
    }
    char *url = owl_pull_url(url_in, err);
    if (!url) return -1;
    dl d = {.o = o, .fd = -1};
    if (o->expected_sha256) {
        for (int i = 0; i < 65; i++) d.expected[i] = (char)tolower((unsigned char)o->expected_sha256[i]);
    }
    char *part = NULL, *dir = NULL, *vpath = NULL;
    partial_path(s, url, &part, &dir, &vpath);
    int rc = -1;
    if (!part || !dir || !vpath) {
        owl_errorf(err, "out of memory");
        goto done;
    }
    d.dir = dir;
    d.vpath = vpath;
    if (report(&d, "pulling manifest", NULL, 0, 0)) goto cancelled;
    d.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d.fd < 0) {
        owl_errorf(err, "%s: %s", part, strerror(errno));
        goto done;
    }
    if (flock(d.fd, LOCK_EX | LOCK_NB) < 0) {
        owl_errorf(err, "another pull of %.200s is running", url_in);
        goto done;
    }
    if (!(d.curl = curl_easy_init())) {
        owl_errorf(err, "cannot start libcurl");
        goto done;
    }
    for (int attempt = 0;; attempt++) {
        CURLcode cc;
        long code = transfer(&d, url, &cc);
        if (d.cancelled) goto cancelled;
        if (code == 416 && attempt == 0) {
            /* Nothing left past our end: either the partial is whole, or it is longer than
             * the file now is and cannot be trusted. */
            if (d.have_range && d.range_total == d.offset && d.offset) {
                d.total = d.offset;
                break;
            }
            if (ftruncate(d.fd, 0) < 0) {
                owl_errorf(err, "%s: %s", part, strerror(errno));
                goto done;
            }
            continue;
        }
        if (code >= 400) {
            owl_errorf(err, "%.200s: HTTP %ld%s%s", url_in, code, reason(code),
                       (code == 401 || code == 403) && !o->bearer_token
                           ? " (a gated repository? pass --token or set HF_TOKEN)" : "");
            goto done;
        }
        if (code >= 300) {
            owl_errorf(err, "%.200s: HTTP %ld (redirect without a usable Location)", url_in, code);
            goto done;
        }
        if (d.failure[0]) {
            owl_errorf(err, "%.200s: %s", url_in, d.failure);
            goto done;
        }
        uint64_t have = d.offset + d.written;
        if (cc != CURLE_OK || (d.total && have < d.total)) {
            char a[32], b[32];
            fmt_size(a, sizeof a, have);
            fmt_size(b, sizeof b, d.total);
            owl_errorf(err,
                       "download of %.200s interrupted after %s of %s (%s); pull again to resume",
                       url_in, a, d.total ? b : "an unknown size",
                       cc != CURLE_OK ? curl_easy_strerror(cc) : "the server closed early");
            goto done;
        }
        if (!d.total) d.total = have;
        break;
    }
    if (!d.expected[0]) {
        if (d.hf_sha[0]) memcpy(d.expected, d.hf_sha, 65);
        else if (d.etag_sha[0]) memcpy(d.expected, d.etag_sha, 65);
    }
    report(&d, "downloading", d.expected[0] ? d.expected : NULL, d.total, d.total);
    if (report(&d, "verifying sha256 digest", NULL, 0, 0)) goto cancelled;
    char hex[65];
    uint64_t size;
    if (fsync(d.fd) < 0 || owl_sha256_file(part, hex, &size, err) < 0) {
        if (!err || !err->msg[0]) owl_errorf(err, "%s: %s", part, strerror(errno));
        goto done;
    }
    if (d.expected[0] && strcmp(hex, d.expected) != 0) {
        unlink(part);
        owl_errorf(err, "%.200s: sha256 mismatch: expected %s (%s), got %s; the download was "
                        "deleted", url_in, d.expected,
                   o->expected_sha256 ? "--sha256" : "the server's ETag", hex);
        goto done;
    }
    if (store_gguf_magic(part, NULL) < 0) {
        unlink(part);
        owl_errorf(err, "%.200s is not a GGUF file; the download was deleted", url_in);
        goto done;
    }
    char digest[72];
    snprintf(digest, sizeof digest, "sha256:%s", hex);
    char *blob = owl_store_blob_path(s, digest);
    if (!blob || rename(part, blob) < 0) {
        owl_errorf(err, "%s: %s", blob ? blob : "blob", blob ? strerror(errno) : "out of memory");
        free(blob);
        goto done;
    }
    free(blob);
    if (report(&d, "writing manifest", NULL, 0, 0)) goto cancelled;
    owl_manifest m;
    if (store_manifest_init(&m, &name, digest, size, url_in, err) < 0) goto done;
    if (owl_store_write_manifest(s, &m, err) < 0) {
        owl_manifest_free(&m);
        goto done;
    }
    if (out) *out = m;
    else owl_manifest_free(&m);
    report(&d, "success", NULL, 0, 0);
    rc = 0;
    goto done;
cancelled:
    owl_errorf(err, "pull of %.200s was stopped; pull again to resume", url_in);
done:
    if (d.curl) curl_easy_cleanup(d.curl);
    if (d.fd >= 0) {
        /* an empty partial (a 404, say) is not worth keeping for a resume */
        struct stat st;
        if (rc < 0 && fstat(d.fd, &st) == 0 && st.st_size == 0) unlink(part);
        close(d.fd);
    }
    /* the validator lives exactly as long as its partial file */
    struct stat pst;
    if (vpath && part && stat(part, &pst) < 0) unlink(vpath);
    free(vpath);
    free(part);
    free(dir);
    free(url);
    return rc;
}
