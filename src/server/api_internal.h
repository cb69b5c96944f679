/* Helpers shared by the API adapters: typed field readers that report the offending parameter. */
#ifndef OWL_SERVER_API_INTERNAL_H
#define OWL_SERVER_API_INTERNAL_H

#include "owl/server.h"

/* Each reader returns 1 when the field was present and valid (value stored), 0 when it is absent
 * or null (value untouched), and -1 with e filled (400, naming `param`) when it has the wrong
 * type or is out of range. */
int api_get_number(const json_t *obj, const char *key, const char *param, double min, double max,
                   double *out, owl_api_error *e);
int api_get_float(const json_t *obj, const char *key, const char *param, double min, double max,
                  float *out, owl_api_error *e);
int api_get_int(const json_t *obj, const char *key, const char *param, long long min,
                long long max, long long *out, owl_api_error *e);
int api_get_bool(const json_t *obj, const char *key, const char *param, bool *out,
                 owl_api_error *e);
/* *out is a malloc'd copy (the previous value is freed). */
int api_get_string(const json_t *obj, const char *key, const char *param, char **out,
                   owl_api_error *e);
/* A string or an array of at most max_n strings. */
int api_get_stop(const json_t *obj, const char *key, const char *param, size_t max_n,
                 owl_gen_request *r, owl_api_error *e);
/* The body as a JSON object, or -1 with a 400. The caller decrefs. */
json_t *api_parse_body(const char *body, size_t len, owl_api_error *e);
/* Chat messages into r->messages: role + content (string, null or text parts). */
int api_get_messages(const json_t *obj, owl_gen_request *r, bool ollama, owl_api_error *e);
/* Zeroes r and sets every default. */
void api_request_init(owl_gen_request *r, owl_api_kind kind);
/* json_dumps compact; NULL on allocation failure. */
char *api_dump(json_t *j);

#endif
