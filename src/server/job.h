/* The server side of a job: creation, reading the framed response bytes as the backend produces
 * them, cancellation, and the totals for the log line and metrics. */
#ifndef OWL_SERVER_JOB_H
#define OWL_SERVER_JOB_H

#include "server/backend.h"

/* Takes ownership of *req (it is zeroed). One reference, held by the caller. */
owl_job *owl_job_new(owl_gen_request *req, const char *model_name);
void owl_job_cancel(owl_job *j);
/* Streaming: copies up to max framed bytes into buf. Waits at most timeout_ms for some.
 * Returns the count (> 0), 0 on timeout, -1 when the job is over and everything was read. */
long owl_job_read(owl_job *j, char *buf, size_t max, int timeout_ms);
/* Non-streaming: waits up to timeout_ms for the end; true when over. */
bool owl_job_wait(owl_job *j, int timeout_ms);
/* After the end: the whole body (malloc'd) and its HTTP status. */
char *owl_job_body(owl_job *j, int *status);
/* Totals so far (tokens, time to first token, generation time). */
void owl_job_totals(owl_job *j, owl_gen_usage *u, int64_t *ttft_ns, int64_t *gen_ns);
/* The content type of the streamed response. */
const char *owl_job_stream_type(const owl_job *j);

int64_t owl_now_ns(void);      /* CLOCK_MONOTONIC */
int64_t owl_wall_ns(void);     /* CLOCK_REALTIME */

#endif
