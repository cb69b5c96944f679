/* owl_stream: bytes from one producer thread to one reader, under a mutex, with a condition
 * variable so the reader can wait in short slices (and notice a vanished client between them). */
#include "server/backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct owl_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    char *buf;
    size_t len, head, cap;
    bool closed;
    atomic_bool cancelled;
};

owl_stream *owl_stream_new(void) {
    owl_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->refs = 1;
    atomic_init(&s->cancelled, false);
    return s;
}

void owl_stream_retain(owl_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void owl_stream_release(owl_stream *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left > 0) return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->buf);
    free(s);
}

void owl_stream_write(owl_stream *s, const char *data, size_t n) {
    pthread_mutex_lock(&s->mu);
    if (s->head == s->len) s->head = s->len = 0;
    if (s->len + n > s->cap) {
        if (s->head) {
            memmove(s->buf, s->buf + s->head, s->len - s->head);
            s->len -= s->head;
            s->head = 0;
        }
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->len + n) cap *= 2;
        char *p = realloc(s->buf, cap);
        if (p) {
            s->buf = p;
            s->cap = cap;
        }
    }
    if (s->len + n <= s->cap) {
        memcpy(s->buf + s->len, data, n);
        s->len += n;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void owl_stream_close(owl_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

long owl_stream_read(owl_stream *s, char *buf, size_t max, int timeout_ms) {
    pthread_mutex_lock(&s->mu);
    if (s->head == s->len && !s->closed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        ts.tv_sec += timeout_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    long n;
    if (s->head < s->len) {
        size_t k = s->len - s->head;
        if (k > max) k = max;
        memcpy(buf, s->buf + s->head, k);
        s->head += k;
        n = (long)k;
    } else {
        n = s->closed ? -1 : 0;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

void owl_stream_cancel(owl_stream *s) { atomic_store(&s->cancelled, true); }

bool owl_stream_cancelled(const owl_stream *s) {
    return atomic_load(&((owl_stream *)s)->cancelled);
}
