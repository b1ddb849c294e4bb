/* tconv_last_error is per thread: two threads failing with different
 * messages in a tight loop each read back their own message, and a
 * successful call in one thread does not clear the other's. */
#include "check.h"
#include "tutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <tconv.h>

#define ITERS 20000

typedef struct job {
    int stride;     /* each thread fails with its own stride value */
    int mismatches; /* messages that were not this thread's */
    int wrong_status;
} job;

static pthread_barrier_t start;

static void *worker(void *arg) {
    job *j = arg;
    char want[128];
    snprintf(want, sizeof want, "kernel_height: %d kernel_width: 3", -j->stride);
    tconv_conv_transpose2d_params p;
    pthread_barrier_wait(&start);
    for (int i = 0; i < ITERS; i++) {
        tconv_conv_transpose2d_params_init(&p, 2, 2, -j->stride, 3);
        if (tconv_conv_transpose2d_params_check(&p) != TCONV_ERROR_INVALID_ARGUMENT)
            j->wrong_status++;
        const char *m = tconv_last_error();
        if (!strstr(m, want)) j->mismatches++;
    }
    return NULL;
}

int main(void) {
    job jobs[2] = {{11, 0, 0}, {222, 0, 0}};
    pthread_t th[2];
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, worker, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
        CHECK_MSG(jobs[i].mismatches == 0, "thread %d read %d foreign messages", i,
                  jobs[i].mismatches);
        CHECK(jobs[i].wrong_status == 0);
    }
    /* The main thread's message is its own and survives the workers' calls. */
    CHECK(tconv_last_error()[0] == '\0');
    tconv_conv2d_params q;
    tconv_conv2d_params_init(&q, 2, 2, 3, 3);
    q.groups = 0;
    CHECK(tconv_conv2d_params_check(&q) == TCONV_ERROR_INVALID_ARGUMENT);
    pthread_barrier_init(&start, NULL, 1);
    jobs[0].mismatches = 0;
    CHECK(pthread_create(&th[0], NULL, worker, &jobs[0]) == 0);
    pthread_join(th[0], NULL);
    pthread_barrier_destroy(&start);
    CHECK(jobs[0].mismatches == 0);
    CHECK_MSG(!strcmp(tconv_last_error(), "non-positive groups is not supported"), "got: %s",
              tconv_last_error());
    return tc_test_summary("test_last_error_threads");
}
