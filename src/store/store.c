/* The store: its folders, model names, manifests (JSON through jansson), listing, removal,
 * copies, and turning what a user typed into a GGUF path. */
#include "owl/store.h"
#include "store/store_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A manifest is a few hundred bytes plus a template; anything far larger is not ours. */
#define MANIFEST_MAX (4u << 20)

char *store_path(const owl_store *s, const char *rel) {
    size_t n = strlen(s->root) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", s->root, rel);
    return p;
}

int store_mkdirs(const char *dir, owl_error *err) {
    char *p = strdup(dir);
    if (!p) return owl_errorf(err, "out of memory");
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (mkdir(p, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                owl_errorf(err, "cannot create %s: %s", p, strerror(e));
                free(p);
                return -1;
            }
            *q = c;
            if (!c) break;
        }
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        return owl_errorf(err, "%s is not a folder", dir);
    }
    return 0;
}

int owl_store_open(owl_store *s, const char *root, owl_error *err) {
    memset(s, 0, sizeof *s);
    char buf[4096];
    if (!root || !*root) root = getenv("OWL_HOME");
    if (!root || !*root) {
        const char *home = getenv("HOME");
        if (!home || !*home) return owl_errorf(err, "neither OWL_HOME nor HOME is set");
        snprintf(buf, sizeof buf, "%s/.owl", home);
        root = buf;
    }
    if (strlen(root) > 3000) return owl_errorf(err, "store path is too long");
    s->root = strdup(root);
    if (!s->root) return owl_errorf(err, "out of memory");
    static const char *const dirs[] = {"blobs/partial", "manifests"};
    for (size_t i = 0; i < 2; i++) {
        char *d = store_path(s, dirs[i]);
        int rc = d ? store_mkdirs(d, err) : owl_errorf(err, "out of memory");
        free(d);
        if (rc < 0) {
            owl_error_prefix(err, "store");
            owl_store_close(s);
            return -1;
        }
    }
    return 0;
}

void owl_store_close(owl_store *s) {
    if (!s) return;
    free(s->root);
    s->root = NULL;
}

char *owl_store_blob_path(const owl_store *s, const char *digest) {
    if (strncmp(digest, "sha256:", 7) != 0 || !owl_sha256_hex_valid(digest + 7)) return NULL;
    char rel[96];
    snprintf(rel, sizeof rel, "blobs/sha256-%s", digest + 7);
    return store_path(s, rel);
}

/* ---- names ----------------------------------------------------------------------------------- */

static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* One part of a name or a tag: 1..max characters, starting with a letter, digit or '_'. */
static int check_part(const char *what, const char *full, const char *p, size_t n, size_t max,
                      owl_error *err) {
    if (n == 0) return owl_errorf(err, "model name '%.200s': empty %s", full, what);
    if (n > max) return owl_errorf(err, "model name '%.200s': %s longer than %zu", full, what, max);
    if (p[0] == '.' || p[0] == '-') {
        return owl_errorf(err, "model name '%.200s': %s must not start with '%c'", full, what,
                          p[0]);
    }
    for (size_t i = 0; i < n; i++) {
        if (!name_char(p[i])) {
            unsigned char c = (unsigned char)p[i];
            if (c >= 0x21 && c < 0x7f) {
                return owl_errorf(err, "model name '%.200s': '%c' is not allowed in a %s", full,
                                  c, what);
            }
            return owl_errorf(err, "model name '%.200s': byte 0x%02x is not allowed in a %s",
                              full, c, what);
        }
    }
    return 0;
}

int owl_model_name_parse(const char *s, owl_model_name *out, owl_error *err) {
    memset(out, 0, sizeof *out);
    if (!s || !*s) return owl_errorf(err, "model name is empty");
    size_t len = strnlen(s, OWL_NAME_MAX + OWL_TAG_MAX + 8);
    if (len > OWL_NAME_MAX + OWL_TAG_MAX + 1) return owl_errorf(err, "model name is too long");
    char low[OWL_NAME_MAX + OWL_TAG_MAX + 8];
    for (size_t i = 0; i < len; i++) low[i] = (char)tolower((unsigned char)s[i]);
    low[len] = '\0';
    const char *slash = strrchr(low, '/');
    const char *colon = strrchr(low, ':');
    if (colon && slash && colon < slash) colon = NULL; /* reported below as a bad character */
    size_t name_len = colon ? (size_t)(colon - low) : len;
    /* each '/'-separated part of the name */
    for (size_t at = 0; at <= name_len;) {
        const char *p = low + at;
        size_t n = 0;
        while (at + n < name_len && p[n] != '/') n++;
        if (check_part("name part", low, p, n, OWL_NAME_MAX, err) < 0) return -1;
        at += n + 1;
    }
    if (name_len > OWL_NAME_MAX) {
        return owl_errorf(err, "model name '%.200s' is longer than %d", low, OWL_NAME_MAX);
    }
    memcpy(out->name, low, name_len);
    if (colon) {
        size_t tn = len - name_len - 1;
        if (check_part("tag", low, colon + 1, tn, OWL_TAG_MAX, err) < 0) return -1;
        memcpy(out->tag, colon + 1, tn);
    } else {
        strcpy(out->tag, "latest");
    }
    return 0;
}

void owl_model_name_format(const owl_model_name *n, char *buf, size_t size) {
    snprintf(buf, size, "%s:%s", n->name, n->tag);
}

/* manifests/<name with '/' as '%'>: '%' cannot occur in a name, so every name has its own
 * folder and no name can land inside another's. */
static char *manifest_dir(const owl_store *s, const owl_model_name *n) {
    char rel[OWL_NAME_MAX + 16];
    int at = snprintf(rel, sizeof rel, "manifests/");
    for (const char *p = n->name; *p; p++) rel[at++] = *p == '/' ? '%' : *p;
    rel[at] = '\0';
    return store_path(s, rel);
}

static char *manifest_path(const owl_store *s, const owl_model_name *n) {
    char *dir = manifest_dir(s, n);
    if (!dir) return NULL;
    size_t len = strlen(dir) + strlen(n->tag) + 8;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s/%s.json", dir, n->tag);
    free(dir);
    return p;
}

/* ---- manifests ------------------------------------------------------------------------------- */

void owl_manifest_free(owl_manifest *m) {
    if (!m) return;
    free(m->source);
    free(m->template_src);
    free(m->system);
    json_decref(m->parameters);
    memset(m, 0, sizeof *m);
}

int store_manifest_init(owl_manifest *m, const owl_model_name *name, const char *digest,
                        uint64_t size, const char *source, owl_error *err) {
    memset(m, 0, sizeof *m);
    m->name = *name;
    snprintf(m->digest, sizeof m->digest, "%s", digest);
    m->size = size;
    m->source = source ? strdup(source) : NULL;
    m->parameters = json_object();
    if ((source && !m->source) || !m->parameters) {
        owl_manifest_free(m);
        return owl_errorf(err, "out of memory");
    }
    return 0;
}

static char *dup_opt(const json_t *o, const char *key) {
    const char *v = json_string_value(json_object_get(o, key));
    return v ? strdup(v) : NULL;
}

static int read_manifest_file(const char *path, const owl_model_name *name, owl_manifest *out,
                              owl_error *err) {
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = owl_read_file(path, MANIFEST_MAX, &len, err);
    if (!text) return -1;
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je);
    free(text);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return owl_errorf(err, "%s: not a manifest (%s)", path, o ? "not an object" : je.text);
    }
    const char *digest = json_string_value(json_object_get(o, "model"));
    json_t *size = json_object_get(o, "size");
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || !owl_sha256_hex_valid(digest + 7) ||
        !json_is_integer(size) || json_integer_value(size) < 0) {
        json_decref(o);
        return owl_errorf(err, "%s: manifest lacks a valid \"model\" digest or \"size\"", path);
    }
    out->name = *name;
    snprintf(out->digest, sizeof out->digest, "%s", digest);
    for (char *p = out->digest; *p; p++) *p = (char)tolower((unsigned char)*p);
    out->size = (uint64_t)json_integer_value(size);
    out->source = dup_opt(o, "source");
    out->template_src = dup_opt(o, "template");
    out->system = dup_opt(o, "system");
    json_t *params = json_object_get(o, "parameters");
    out->parameters = json_is_object(params) ? json_incref(params) : json_object();
    out->modified = json_integer_value(json_object_get(o, "modified"));
    json_decref(o);
    return 0;
}

int owl_store_read_manifest(const owl_store *s, const char *name, owl_manifest *out,
                            owl_error *err) {
    memset(out, 0, sizeof *out);
    owl_model_name n;
    if (owl_model_name_parse(name, &n, err) < 0) return -1;
    char *path = manifest_path(s, &n);
    if (!path) return owl_errorf(err, "out of memory");
    struct stat st;
    if (stat(path, &st) < 0) {
        free(path);
        char full[OWL_NAME_MAX + OWL_TAG_MAX + 2];
        owl_model_name_format(&n, full, sizeof full);
        return owl_errorf(err, "model '%s' not found (see 'owl list', or 'owl pull' it)", full);
    }
    int rc = read_manifest_file(path, &n, out, err);
    free(path);
    return rc;
}

static void drop_if_unused(const owl_store *s, const char *digest);

int owl_store_write_manifest(const owl_store *s, owl_manifest *m, owl_error *err) {
    /* A name that pointed at another blob (a pull or create over an existing name) may leave
     * that blob unused. */
    char old_digest[72] = "";
    owl_manifest old;
    char full_name[OWL_NAME_MAX + OWL_TAG_MAX + 2];
    owl_model_name_format(&m->name, full_name, sizeof full_name);
    if (owl_store_read_manifest(s, full_name, &old, NULL) == 0) {
        snprintf(old_digest, sizeof old_digest, "%s", old.digest);
        owl_manifest_free(&old);
    }
    char full[OWL_NAME_MAX + OWL_TAG_MAX + 2];
    owl_model_name_format(&m->name, full, sizeof full);
    m->modified = (int64_t)time(NULL);
    json_t *o = json_object();
    json_object_set_new(o, "schema", json_integer(1));
    json_object_set_new(o, "name", json_string(full));
    json_object_set_new(o, "model", json_string(m->digest));
    json_object_set_new(o, "size", json_integer((json_int_t)m->size));
    if (m->source) json_object_set_new(o, "source", json_string(m->source));
    if (m->template_src) json_object_set_new(o, "template", json_string(m->template_src));
    if (m->system) json_object_set_new(o, "system", json_string(m->system));
    json_object_set(o, "parameters", m->parameters ? m->parameters : json_object());
    json_object_set_new(o, "modified", json_integer(m->modified));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(12));
    json_decref(o);
    if (!m->parameters) m->parameters = json_object();
    if (!text) return owl_errorf(err, "out of memory");
    char *dir = manifest_dir(s, &m->name), *path = manifest_path(s, &m->name);
    int rc = !dir || !path ? owl_errorf(err, "out of memory") : store_mkdirs(dir, err);
    if (rc == 0) rc = owl_write_file_atomic(path, text, strlen(text), err);
    free(text);
    free(dir);
    free(path);
    if (rc == 0 && old_digest[0] && strcmp(old_digest, m->digest) != 0) {
        drop_if_unused(s, old_digest);
    }
    return rc;
}

/* ---- listing --------------------------------------------------------------------------------- */

static int cmp_manifest(const void *a, const void *b) {
    const owl_manifest *x = a, *y = b;
    int c = strcmp(x->name.name, y->name.name);
    return c ? c : strcmp(x->name.tag, y->name.tag);
}

void owl_store_list_free(owl_manifest *list, size_t n) {
    for (size_t i = 0; i < n; i++) owl_manifest_free(&list[i]);
    free(list);
}

int owl_store_list(const owl_store *s, owl_manifest **out, size_t *n_out, owl_error *err) {
    *out = NULL;
    *n_out = 0;
    char *root = store_path(s, "manifests");
    if (!root) return owl_errorf(err, "out of memory");
    DIR *d = opendir(root);
    if (!d) {
        int e = errno;
        int rc = e == ENOENT ? 0 : owl_errorf(err, "%s: %s", root, strerror(e));
        free(root);
        return rc;
    }
    owl_manifest *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char name[OWL_NAME_MAX + 1];
        if (strlen(de->d_name) > OWL_NAME_MAX) continue;
        for (size_t i = 0;; i++) {
            name[i] = de->d_name[i] == '%' ? '/' : de->d_name[i];
            if (!de->d_name[i]) break;
        }
        size_t dl = strlen(root) + strlen(de->d_name) + 2;
        char *dir = malloc(dl);
        if (!dir) break;
        snprintf(dir, dl, "%s/%s", root, de->d_name);
        DIR *td = opendir(dir);
        struct dirent *te;
        while (td && (te = readdir(td))) {
            size_t tl = strlen(te->d_name);
            if (te->d_name[0] == '.' || tl < 6 || strcmp(te->d_name + tl - 5, ".json") != 0) {
                continue;
            }
            char full[OWL_NAME_MAX + OWL_TAG_MAX + 8];
            snprintf(full, sizeof full, "%s:%.*s", name, (int)(tl - 5), te->d_name);
            owl_model_name mn;
            if (owl_model_name_parse(full, &mn, NULL) < 0) continue;
            size_t pl = strlen(dir) + tl + 2;
            char *path = malloc(pl);
            if (!path) continue;
            snprintf(path, pl, "%s/%s", dir, te->d_name);
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                owl_manifest *p = realloc(list, nc * sizeof *p);
                if (!p) {
                    free(path);
                    continue;
                }
                list = p;
                cap = nc;
            }
            if (read_manifest_file(path, &mn, &list[n], NULL) == 0) n++;
            free(path);
        }
        if (td) closedir(td);
        free(dir);
    }
    closedir(d);
    free(root);
    if (n) qsort(list, n, sizeof *list, cmp_manifest);
    *out = list;
    *n_out = n;
    return 0;
}

/* ---- rm, cp ---------------------------------------------------------------------------------- */

/* Deletes the blob when no manifest refers to it any more. Only this one blob is considered, so
 * a pull that has moved its blob in but not yet written its manifest is never disturbed. */
static void drop_if_unused(const owl_store *s, const char *digest) {
    owl_manifest *list;
    size_t n;
    if (owl_store_list(s, &list, &n, NULL) < 0) return;
    bool used = false;
    for (size_t i = 0; i < n; i++) used |= strcmp(list[i].digest, digest) == 0;
    owl_store_list_free(list, n);
    if (used) return;
    char *blob = owl_store_blob_path(s, digest);
    if (blob) unlink(blob);
    free(blob);
}

int owl_store_remove(const owl_store *s, const char *name, owl_error *err) {
    owl_manifest m;
    if (owl_store_read_manifest(s, name, &m, err) < 0) return -1;
    char *path = manifest_path(s, &m.name), *dir = manifest_dir(s, &m.name);
    int rc = 0;
    if (!path || !dir) rc = owl_errorf(err, "out of memory");
    else if (unlink(path) < 0) rc = owl_errorf(err, "%s: %s", path, strerror(errno));
    else rmdir(dir); /* only when it was the last tag */
    free(path);
    free(dir);
    if (rc == 0) drop_if_unused(s, m.digest); /* the blob goes with its last name */
    owl_manifest_free(&m);
    return rc;
}

int owl_store_copy(const owl_store *s, const char *src, const char *dst, owl_error *err) {
    owl_model_name dn;
    if (owl_model_name_parse(dst, &dn, err) < 0) return -1;
    owl_manifest m;
    if (owl_store_read_manifest(s, src, &m, err) < 0) return -1;
    char *path = manifest_path(s, &dn);
    struct stat st;
    bool exists = path && stat(path, &st) == 0;
    free(path);
    if (exists) {
        owl_manifest_free(&m);
        char full[OWL_NAME_MAX + OWL_TAG_MAX + 2];
        owl_model_name_format(&dn, full, sizeof full);
        return owl_errorf(err, "model '%s' already exists (remove it first)", full);
    }
    m.name = dn;
    int rc = owl_store_write_manifest(s, &m, err);
    owl_manifest_free(&m);
    return rc;
}

/* ---- resolve --------------------------------------------------------------------------------- */

void owl_resolved_free(owl_resolved *r) {
    if (!r) return;
    free(r->path);
    owl_manifest_free(&r->m);
    memset(r, 0, sizeof *r);
}

int owl_store_resolve(const owl_store *s, const char *arg, owl_resolved *out, owl_error *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(arg, &st) == 0 && !S_ISDIR(st.st_mode)) {
        out->path = strdup(arg);
        return out->path ? 0 : owl_errorf(err, "out of memory");
    }
    /* Something that looks like a path but is not there is reported as a missing file. */
    size_t n = strlen(arg);
    bool pathish = arg[0] == '/' || arg[0] == '.' || (n > 5 && strcmp(arg + n - 5, ".gguf") == 0);
    if (pathish || !s) {
        return owl_errorf(err, "%s: %s", arg, strerror(stat(arg, &st) == 0 ? EISDIR : ENOENT));
    }
    owl_model_name mn;
    if (owl_model_name_parse(arg, &mn, NULL) < 0) {
        return owl_errorf(err, "%.200s: no such file, nor a valid model name", arg);
    }
    if (owl_store_read_manifest(s, arg, &out->m, err) < 0) return -1;
    out->path = owl_store_blob_path(s, out->m.digest);
    out->from_store = true;
    if (!out->path || stat(out->path, &st) < 0) {
        char full[OWL_NAME_MAX + OWL_TAG_MAX + 2];
        owl_model_name_format(&mn, full, sizeof full);
        owl_resolved_free(out);
        return owl_errorf(err, "model '%s': its blob is missing from the store (pull it again)",
                          full);
    }
    return 0;
}
