/* owl store — the local model store under $OWL_HOME (default ~/.owl).
 *
 * Layout:
 *   $OWL_HOME/blobs/sha256-<hex>           model files, named by the SHA-256 of their bytes
 *   $OWL_HOME/blobs/partial/<key>.partial   downloads in progress (resumed by the next pull)
 *   $OWL_HOME/manifests/<name>/<tag>.json   one small JSON manifest per model name
 *
 * A model name is "NAME[:TAG]" as Ollama users write it: NAME is one or more '/'-separated parts
 * of letters, digits, '.', '_' and '-'; TAG defaults to "latest". Names are case-insensitive
 * (stored in lower case). A manifest maps the name to its blob plus the defaults a Modelfile gave:
 * chat template override, system prompt and sampling parameters.
 *
 * Blobs are immutable and shared: `cp` writes a second manifest, `rm` deletes the manifest and
 * then every blob no manifest refers to any more. Every file is written to a temporary name,
 * synced and renamed, so a crash never leaves half a manifest or half a blob under its final
 * name. */
#ifndef OWL_STORE_H
#define OWL_STORE_H

#include "owl/common.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- SHA-256 (OpenSSL's EVP underneath) ------------------------------------------------------ */

typedef struct owl_sha256 owl_sha256;

owl_sha256 *owl_sha256_new(void);
void owl_sha256_update(owl_sha256 *h, const void *data, size_t n);
/* Writes 64 lower-case hex digits and a NUL into hex, and frees h. */
void owl_sha256_final(owl_sha256 *h, char hex[65]);
/* The digest of a whole file (and its size). */
int owl_sha256_file(const char *path, char hex[65], uint64_t *size, owl_error *err);
/* True for exactly 64 hex digits (either case). */
bool owl_sha256_hex_valid(const char *s);

/* Writes n bytes to path through a temporary file in the same folder, fsync and rename: readers
 * see the old file or the new one, never a mix. */
int owl_write_file_atomic(const char *path, const void *data, size_t n, owl_error *err);

/* ---- names ----------------------------------------------------------------------------------- */

#define OWL_NAME_MAX 160
#define OWL_TAG_MAX 80

typedef struct owl_model_name {
    char name[OWL_NAME_MAX + 1]; /* lower case */
    char tag[OWL_TAG_MAX + 1];   /* lower case; "latest" when not given */
} owl_model_name;

/* Parses and validates "NAME[:TAG]". */
int owl_model_name_parse(const char *s, owl_model_name *out, owl_error *err);
/* "name:tag" into buf. */
void owl_model_name_format(const owl_model_name *n, char *buf, size_t size);

/* ---- manifests ------------------------------------------------------------------------------- */

typedef struct owl_manifest {
    owl_model_name name;
    char digest[72];     /* "sha256:<hex>" of the model blob */
    uint64_t size;       /* blob bytes */
    char *source;        /* where it came from: URL or path; may be NULL */
    char *template_src;  /* chat template override, or NULL */
    char *system;        /* default system prompt, or NULL */
    json_t *parameters;  /* {"temperature":0.7,"stop":["..."],...}; never NULL after a read */
    int64_t modified;    /* unix seconds of the last write */
} owl_manifest;

void owl_manifest_free(owl_manifest *m);

/* ---- the store ------------------------------------------------------------------------------- */

typedef struct owl_store {
    char *root;
} owl_store;

/* Opens (and creates when missing) the store at root; NULL means $OWL_HOME, else ~/.owl. */
int owl_store_open(owl_store *s, const char *root, owl_error *err);
void owl_store_close(owl_store *s);

/* Path of the blob for "sha256:<hex>" (malloc'd). */
char *owl_store_blob_path(const owl_store *s, const char *digest);

int owl_store_read_manifest(const owl_store *s, const char *name, owl_manifest *out,
                            owl_error *err);
/* Writes m (stamping m->modified). The blob must already be in the store. */
int owl_store_write_manifest(const owl_store *s, owl_manifest *m, owl_error *err);
/* Every manifest, sorted by name; *out is an array of n (free each, then the array). Manifests
 * that cannot be read are skipped. */
int owl_store_list(const owl_store *s, owl_manifest **out, size_t *n, owl_error *err);
void owl_store_list_free(owl_manifest *list, size_t n);
/* Deletes the name, then the blobs that no manifest uses any more. */
int owl_store_remove(const owl_store *s, const char *name, owl_error *err);
/* A second name for the same blob and defaults. Fails when dst exists. */
int owl_store_copy(const owl_store *s, const char *src, const char *dst, owl_error *err);
/* Hashes a local GGUF file while copying it into blobs/ (nothing is copied when the blob is
 * there already). digest gets "sha256:<hex>". */
int owl_store_import(const owl_store *s, const char *path, char digest[72], uint64_t *size,
                     owl_error *err);

/* ---- names or paths -------------------------------------------------------------------------- */

/* What a command or a request named: an existing file path is used as it is; anything else must
 * be a model name in the store. */
typedef struct owl_resolved {
    char *path;          /* the GGUF file (malloc'd) */
    bool from_store;
    owl_manifest m;      /* the manifest when from_store (zeroed otherwise) */
} owl_resolved;

int owl_store_resolve(const owl_store *s, const char *name_or_path, owl_resolved *out,
                      owl_error *err);
void owl_resolved_free(owl_resolved *r);

/* ---- Modelfile ------------------------------------------------------------------------------- */

/* The subset of Ollama's Modelfile that owl understands:
 *   # comment
 *   FROM <path | URL | hf://OWNER/REPO/FILE.gguf | store name>
 *   PARAMETER <name> <value>        (stop may be repeated; every other name once)
 *   TEMPLATE <text>                 SYSTEM <text>      LICENSE <text>
 * Instructions are case-insensitive. A value is the rest of the line, a "quoted string" with
 * \" and \\ escapes, or a """triple-quoted""" text that may span lines. */
typedef struct owl_modelfile {
    char *from;
    char *template_src;
    char *system;
    char *license;
    json_t *parameters; /* typed values (numbers, stop as an array of strings) */
} owl_modelfile;

int owl_modelfile_parse(const char *text, size_t len, owl_modelfile *out, owl_error *err);
void owl_modelfile_free(owl_modelfile *mf);
/* A Modelfile that recreates a stored model (malloc'd): FROM `from`, then its PARAMETER, SYSTEM
 * and TEMPLATE lines. Numbers are written plainly (0, 0.7), strings quoted. */
char *owl_manifest_modelfile(const owl_manifest *m, const char *from);
/* Validates one parameter and stores it in params (stop values accumulate). */
int owl_modelfile_set_param(json_t *params, const char *key, const char *value, owl_error *err);

/* ---- pull ------------------------------------------------------------------------------------ */

typedef struct owl_pull_progress {
    const char *status;   /* "pulling manifest", "downloading", "verifying sha256 digest",
                             "writing manifest", "success" */
    const char *digest;   /* the expected digest while downloading, when known; else NULL */
    uint64_t total;       /* bytes, 0 while unknown */
    uint64_t completed;
} owl_pull_progress;

/* Returns non-zero to stop the pull (the partial file stays for the next attempt). */
typedef int (*owl_pull_cb)(void *user, const owl_pull_progress *p);

typedef struct owl_pull_opts {
    const char *name;            /* store name; NULL: derived from the file name in the URL */
    const char *expected_sha256; /* 64 hex digits; NULL: take it from the server's headers */
    /* Sent as "Authorization: Bearer <token>" (a Hugging Face token for gated repositories);
     * NULL: none. Not sent on to another host after a redirect. */
    const char *bearer_token;
    owl_pull_cb progress;
    void *user;
} owl_pull_opts;

/* "hf://OWNER/REPO/FILE" → the Hugging Face resolve URL; other URLs are copied (malloc'd). */
char *owl_pull_url(const char *url, owl_error *err);
/* The token a pull of url should send: $HF_TOKEN for hf:// and huggingface.co URLs, else
 * NULL. */
const char *owl_pull_env_token(const char *url);
/* The default store name of a URL: its file name without ".gguf", lower case. */
int owl_pull_default_name(const char *url, owl_model_name *out, owl_error *err);

/* Downloads url into the store (resuming a partial download with an HTTP Range request),
 * verifies the SHA-256, moves the blob in place and writes the manifest. On success *out holds
 * the manifest (may be NULL). */
int owl_store_pull(const owl_store *s, const char *url, const owl_pull_opts *o, owl_manifest *out,
                   owl_error *err);

#ifdef __cplusplus
}
#endif
#endif
