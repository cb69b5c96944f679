/* Helpers shared by the files of the store module. */
#ifndef OWL_STORE_INTERNAL_H
#define OWL_STORE_INTERNAL_H

#include "owl/store.h"

/* root + "/" + rel (malloc'd; NULL when out of memory). */
char *store_path(const owl_store *s, const char *rel);
/* mkdir -p for every folder on the way to (and including) dir. */
int store_mkdirs(const char *dir, owl_error *err);
/* write(2) until done; -1 on error (errno set). */
int store_write_all(int fd, const void *data, size_t n);
/* Fails unless the file starts with the GGUF magic. */
int store_gguf_magic(const char *path, owl_error *err);
/* Builds the manifest a name gets from a blob (name, digest, size, source). */
int store_manifest_init(owl_manifest *m, const owl_model_name *name, const char *digest,
                        uint64_t size, const char *source, owl_error *err);

#endif
