/* test_concurrency.c -- the concurrency contract of tconv.h, exercised
 * from many threads (and run under ThreadSanitizer in CI):
 *  - threads running distinct operators (every operator and pass);
 *  - threads running the same operator, each with its own workspace and
 *    outputs: every result bit-identical to the one-thread result;
 *  - tconv_op_reshape racing runs: each call succeeds or fails with
 *    TCONV_ERROR_INVALID_STATE, a failed reshape leaves the operator
 *    refusing runs until the next good one, and every run that succeeds
 *    computes the right result;
 *  - tconv_op_set_num_threads / tconv_set_num_threads during runs;
 *  - tconv_shutdown() between runs (the pool restarts);
 *  - fork() right after a multi-threaded run and while another thread runs:
 *    the child runs a multi-threaded operator to completion;
 *  - dlopen / dlclose of the shared library after threaded runs (the
 *    library's destructor stops its workers before its code goes away).
 * alarm() turns a hang into a failure.  Failures seen in worker threads
 * are counted atomically and checked by the main thread. */
#define _GNU_SOURCE
#include "check.h"
#include "tutil.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <tconv.h>
#include <unistd.h>

/* One operator and pass with its inputs and one-thread results. */
typedef struct job {
    const char *name;
    tconv_op *op;
    tconv_pass pass;
    int ndim;
    int64_t in[4], out[4];
    size_t ws;
    float *a, *b;          /* forward: x; backward data: dy; backward weight: x, dy */
    int64_t an, bn;        /* their sizes */
    int64_t r1n, r2n;      /* results: y / dx / dw, and db */
    float *ref1, *ref2;    /* the one-thread results */
} job;

/* The buffers of one caller. */
typedef struct slot {
    float *r1, *r2;
    void *ws;
} slot;

static slot slot_new(const job *j) {
    slot s;
    s.r1 = tu_alloc(j->r1n);
    s.r2 = tu_alloc(j->r2n);
    s.ws = malloc(j->ws ? j->ws : 1);
    if (!s.ws) abort();
    return s;
}

static void slot_free(slot *s) {
    free(s->r1);
    free(s->r2);
    free(s->ws);
}

static tconv_status job_run(const job *j, slot *s) {
    tu_poison(s->r1, j->r1n);
    tu_poison(s->r2, j->r2n);
    switch (j->pass) {
    case TCONV_PASS_FORWARD: return tconv_op_run(j->op, j->a, s->r1, s->ws);
    case TCONV_PASS_BACKWARD_DATA: return tconv_op_run_backward_data(j->op, j->a, s->r1, s->ws);
    default: return tconv_op_run_backward_weight(j->op, j->a, j->b, s->r1, s->r2, s->ws);
    }
}

/* 1 if the slot holds the one-thread result, bit for bit. */
static int job_same(const job *j, const slot *s) {
    return !memcmp(s->r1, j->ref1, (size_t)j->r1n * sizeof(float)) &&
           (j->pass != TCONV_PASS_BACKWARD_WEIGHT ||
            !memcmp(s->r2, j->ref2, (size_t)j->r2n * sizeof(float)));
}

/* Creates every (operator, pass) on shapes large enough to split into many
 * tasks, with inputs and one-thread results. */
enum { NJOBS = 6 };
static void jobs_make(job js[NJOBS], uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    tconv_conv_transpose2d_params ct;
    tconv_conv_transpose2d_params_init(&ct, 16, 12, 4, 4);
    ct.stride[0] = ct.stride[1] = 2;
    ct.padding[0] = ct.padding[1] = 1;
    tconv_conv2d_params cv;
    tconv_conv2d_params_init(&cv, 12, 16, 3, 3);
    cv.padding[0] = cv.padding[1] = 1;
    const int64_t ct_in[4] = {2, 16, 10, 10}, cv_in[4] = {2, 12, 20, 20};
    float *w_ct = tu_alloc(tu_ct_weight_numel(&ct)), *w_cv = tu_alloc(tu_cv_weight_numel(&cv));
    float bias[16];
    tu_fill(&r, w_ct, tu_ct_weight_numel(&ct));
    tu_fill(&r, w_cv, tu_cv_weight_numel(&cv));
    tu_fill(&r, bias, 16);
    static const char *names[NJOBS] = {"ct forward", "ct backward_data", "ct backward_weight",
                                       "cv forward", "cv backward_data", "cv backward_weight"};
    for (int i = 0; i < NJOBS; i++) {
        job *j = &js[i];
        memset(j, 0, sizeof *j);
        j->name = names[i];
        j->pass = (tconv_pass)(i % 3);
        const int is_cv = i >= 3;
        tconv_status st;
        if (!is_cv)
            st = j->pass == TCONV_PASS_FORWARD
                     ? tconv_conv_transpose2d_create(&ct, w_ct, bias, NULL, &j->op)
                 : j->pass == TCONV_PASS_BACKWARD_DATA
                     ? tconv_conv_transpose2d_backward_data_create(&ct, w_ct, NULL, &j->op)
                     : tconv_conv_transpose2d_backward_weight_create(&ct, NULL, &j->op);
        else
            st = j->pass == TCONV_PASS_FORWARD ? tconv_conv2d_create(&cv, w_cv, bias, NULL, &j->op)
                 : j->pass == TCONV_PASS_BACKWARD_DATA
                     ? tconv_conv2d_backward_data_create(&cv, w_cv, NULL, &j->op)
                     : tconv_conv2d_backward_weight_create(&cv, NULL, &j->op);
        if (st != TCONV_OK) {
            fprintf(stderr, "%s: create: %s\n", j->name, tconv_last_error());
            abort();
        }
        j->ndim = 4;
        memcpy(j->in, is_cv ? cv_in : ct_in, sizeof j->in);
        if (tconv_op_reshape(j->op, 4, j->in, NULL, 0, j->out, &j->ws) != TCONV_OK) {
            fprintf(stderr, "%s: reshape: %s\n", j->name, tconv_last_error());
            abort();
        }
        const int64_t xn = tu_numel(j->in, 4), yn = tu_numel(j->out, 4);
        const int64_t wn = is_cv ? tu_cv_weight_numel(&cv) : tu_ct_weight_numel(&ct);
        const int64_t cout = is_cv ? cv.out_channels : ct.out_channels;
        switch (j->pass) {
        case TCONV_PASS_FORWARD: j->an = xn, j->bn = 0, j->r1n = yn, j->r2n = 0; break;
        case TCONV_PASS_BACKWARD_DATA: j->an = yn, j->bn = 0, j->r1n = xn, j->r2n = 0; break;
        default: j->an = xn, j->bn = yn, j->r1n = wn, j->r2n = cout; break;
        }
        j->a = tu_alloc(j->an);
        j->b = tu_alloc(j->bn);
        tu_fill(&r, j->a, j->an);
        tu_fill(&r, j->b, j->bn);
        /* the one-thread result */
        slot s = slot_new(j);
        tconv_op_set_num_threads(j->op, 1);
        if (job_run(j, &s) != TCONV_OK) {
            fprintf(stderr, "%s: run: %s\n", j->name, tconv_last_error());
            abort();
        }
        tconv_op_set_num_threads(j->op, 0);
        j->ref1 = s.r1;
        j->ref2 = s.r2;
        free(s.ws);
    }
    free(w_ct);
    free(w_cv);
}

static void jobs_free(job js[NJOBS]) {
    for (int i = 0; i < NJOBS; i++) {
        tconv_op_destroy(js[i].op);
        free(js[i].a);
        free(js[i].b);
        free(js[i].ref1);
        free(js[i].ref2);
    }
}

static atomic_int g_bad;  /* wrong results or unexpected statuses, any thread */
static atomic_int g_stop; /* tells looping threads to finish */

static void bad(const char *what, const job *j, tconv_status st) {
    atomic_fetch_add(&g_bad, 1);
    fprintf(stderr, "%s: %s (status %d: %s)\n", j->name, what, (int)st, tconv_last_error());
}

/* ---- distinct operators, and one operator from several threads ---------- */

typedef struct runner {
    const job *j;
    int iters;        /* > 0: that many runs; 0: until g_stop */
    int allow_state;  /* TCONV_ERROR_INVALID_STATE is an expected answer */
    int pause_us;     /* sleep between runs (lets a racing reshape in) */
    pthread_t th;
    int ok_runs, state_runs;
} runner;

static void *runner_main(void *arg) {
    runner *rn = arg;
    slot s = slot_new(rn->j);
    for (int i = 0; rn->iters ? i < rn->iters : !atomic_load(&g_stop); i++) {
        tconv_status st = job_run(rn->j, &s);
        if (st == TCONV_OK) {
            rn->ok_runs++;
            if (!job_same(rn->j, &s)) bad("result differs from the one-thread result", rn->j, st);
        } else if (st == TCONV_ERROR_INVALID_STATE && rn->allow_state) {
            rn->state_runs++;
        } else {
            bad("run failed", rn->j, st);
        }
        if (rn->pause_us && i % 2) usleep((useconds_t)rn->pause_us);
    }
    slot_free(&s);
    return NULL;
}

static void start(runner *rn) {
    if (pthread_create(&rn->th, NULL, runner_main, rn) != 0) abort();
}

static void test_distinct_ops(job js[NJOBS]) {
    runner rn[NJOBS];
    for (int i = 0; i < NJOBS; i++) {
        rn[i] = (runner){.j = &js[i], .iters = 12};
        start(&rn[i]);
    }
    int runs = 0;
    for (int i = 0; i < NJOBS; i++) {
        pthread_join(rn[i].th, NULL);
        runs += rn[i].ok_runs;
    }
    CHECK_MSG(atomic_load(&g_bad) == 0, "distinct operators: %d bad runs", atomic_load(&g_bad));
    CHECK(runs == NJOBS * 12);
}

static void test_same_op(job js[NJOBS]) {
    enum { T = 4 };
    for (int i = 0; i < NJOBS; i++) {
        runner rn[T];
        for (int t = 0; t < T; t++) {
            rn[t] = (runner){.j = &js[i], .iters = 6};
            start(&rn[t]);
        }
        int runs = 0;
        for (int t = 0; t < T; t++) {
            pthread_join(rn[t].th, NULL);
            runs += rn[t].ok_runs;
        }
        CHECK_MSG(atomic_load(&g_bad) == 0 && runs == T * 6, "%s from %d threads: %d bad runs",
                  js[i].name, T, atomic_load(&g_bad));
    }
}

/* ---- reshape racing runs -------------------------------------------------- */

static void test_reshape_race(job *j) {
    enum { R = 2, ROUNDS = 300 };
    atomic_store(&g_stop, 0);
    runner rn[R];
    for (int t = 0; t < R; t++) {
        rn[t] = (runner){.j = j, .iters = 0, .allow_state = 1, .pause_us = 200 * (t + 1)};
        start(&rn[t]);
    }
    int ok = 0, busy = 0, refused = 0, wrong = 0;
    for (int i = 0; i < ROUNDS; i++) {
        int64_t out[4] = {0};
        size_t ws = 0;
        if (i % 7 == 3) {
            /* a bad shape: refused (INVALID_ARGUMENT), or not even looked at
             * while runs are in flight (INVALID_STATE); then runs are refused
             * until the next good reshape */
            int64_t bad_in[4] = {j->in[0], j->in[1] + 1, j->in[2], j->in[3]};
            tconv_status st = tconv_op_reshape(j->op, 4, bad_in, NULL, 0, out, &ws);
            if (st == TCONV_ERROR_INVALID_ARGUMENT) refused++;
            else if (st == TCONV_ERROR_INVALID_STATE) busy++;
            else wrong++;
        } else {
            tconv_status st = tconv_op_reshape(j->op, 4, j->in, NULL, 0, out, &ws);
            if (st == TCONV_OK) {
                ok++;
                if (memcmp(out, j->out, sizeof out) || ws != j->ws) wrong++;
            } else if (st == TCONV_ERROR_INVALID_STATE) {
                busy++;
            } else {
                wrong++;
            }
        }
        usleep(i % 3 ? 50 : 300);
    }
    atomic_store(&g_stop, 1);
    int runs_ok = 0, runs_state = 0;
    for (int t = 0; t < R; t++) {
        pthread_join(rn[t].th, NULL);
        runs_ok += rn[t].ok_runs;
        runs_state += rn[t].state_runs;
    }
    printf("reshape race (%s): reshapes ok %d, busy %d, refused %d; runs ok %d, refused %d\n",
           j->name, ok, busy, refused, runs_ok, runs_state);
    CHECK_MSG(wrong == 0, "%d reshapes answered wrongly", wrong);
    CHECK_MSG(atomic_load(&g_bad) == 0, "%d runs went wrong", atomic_load(&g_bad));
    CHECK(ok + busy + refused == ROUNDS);
    /* after a failed reshape, runs are refused; after a good one they work */
    int64_t out[4];
    size_t ws;
    int64_t bad_in[4] = {j->in[0], j->in[1] + 1, j->in[2], j->in[3]};
    CHECK(tconv_op_reshape(j->op, 4, bad_in, NULL, 0, out, &ws) == TCONV_ERROR_INVALID_ARGUMENT);
    slot s = slot_new(j);
    CHECK(job_run(j, &s) == TCONV_ERROR_INVALID_STATE);
    CHECK(tconv_op_reshape(j->op, 4, j->in, NULL, 0, out, &ws) == TCONV_OK && ws == j->ws);
    CHECK(job_run(j, &s) == TCONV_OK && job_same(j, &s));
    slot_free(&s);
}

/* ---- thread counts changed during runs -------------------------------------- */

static void *toggler_main(void *arg) {
    job *js = arg;
    for (int k = 0; !atomic_load(&g_stop); k++) {
        for (int i = 0; i < NJOBS; i++)
            if (tconv_op_set_num_threads(js[i].op, (k + i) % 5) != TCONV_OK)
                bad("tconv_op_set_num_threads failed", &js[i], TCONV_OK);
        if (tconv_set_num_threads(k % 4) != TCONV_OK) bad("tconv_set_num_threads failed", &js[0], 0);
        if (k % 8 == 0) sched_yield();
    }
    return NULL;
}

static void test_set_threads_during_runs(job js[NJOBS]) {
    atomic_store(&g_stop, 0);
    pthread_t tog;
    if (pthread_create(&tog, NULL, toggler_main, js) != 0) abort();
    runner rn[NJOBS];
    for (int i = 0; i < NJOBS; i++) {
        rn[i] = (runner){.j = &js[i], .iters = 8};
        start(&rn[i]);
    }
    for (int i = 0; i < NJOBS; i++) pthread_join(rn[i].th, NULL);
    atomic_store(&g_stop, 1);
    pthread_join(tog, NULL);
    tconv_set_num_threads(0);
    for (int i = 0; i < NJOBS; i++) tconv_op_set_num_threads(js[i].op, 0);
    CHECK_MSG(atomic_load(&g_bad) == 0, "changing thread counts during runs: %d bad runs",
              atomic_load(&g_bad));
}

/* ---- tconv_shutdown between runs -------------------------------------------- */

static void test_shutdown(job js[NJOBS]) {
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < NJOBS; i++) {
            slot s = slot_new(&js[i]);
            tconv_op_set_num_threads(js[i].op, 2);
            CHECK_MSG(job_run(&js[i], &s) == TCONV_OK && job_same(&js[i], &s),
                      "%s after tconv_shutdown (round %d)", js[i].name, round);
            slot_free(&s);
            tconv_op_set_num_threads(js[i].op, 0);
        }
        tconv_shutdown();
        tconv_shutdown(); /* twice is harmless */
    }
}

/* ---- fork --------------------------------------------------------------------- */

/* In the child: a multi-threaded run of every job, compared; exit status 0
 * if all agree. */
static void child_runs(job js[NJOBS]) {
    alarm(60);
    int failures = 0;
    for (int i = 0; i < NJOBS; i++) {
        slot s = slot_new(&js[i]);
        tconv_op_set_num_threads(js[i].op, 2);
        if (job_run(&js[i], &s) != TCONV_OK || !job_same(&js[i], &s)) failures++;
        slot_free(&s);
    }
    _exit(failures ? 10 + failures : 0);
}

static int wait_child(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 100 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void test_fork(job js[NJOBS]) {
    /* right after a multi-threaded run (the pool's workers exist) */
    slot s = slot_new(&js[0]);
    tconv_op_set_num_threads(js[0].op, 2);
    CHECK(job_run(&js[0], &s) == TCONV_OK && job_same(&js[0], &s));
    slot_free(&s);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) child_runs(js);
    CHECK_MSG(pid > 0 && wait_child(pid) == 0, "child after a multi-threaded run failed");
    /* while other threads run (fork waits for a run in progress) */
    atomic_store(&g_stop, 0);
    runner rn[2];
    for (int t = 0; t < 2; t++) {
        rn[t] = (runner){.j = &js[t * 3], .iters = 0};
        start(&rn[t]);
    }
    for (int k = 0; k < 3; k++) {
        usleep(2000);
        fflush(NULL);
        pid = fork();
        if (pid == 0) child_runs(js);
        CHECK_MSG(pid > 0 && wait_child(pid) == 0, "child forked during runs failed (fork %d)", k);
    }
    atomic_store(&g_stop, 1);
    for (int t = 0; t < 2; t++) pthread_join(rn[t].th, NULL);
    for (int i = 0; i < NJOBS; i++) tconv_op_set_num_threads(js[i].op, 0);
    CHECK_MSG(atomic_load(&g_bad) == 0, "runs beside fork: %d bad", atomic_load(&g_bad));
    /* and the parent's pool still works */
    s = slot_new(&js[1]);
    CHECK(job_run(&js[1], &s) == TCONV_OK && job_same(&js[1], &s));
    slot_free(&s);
}

/* ---- dlopen / dlclose ------------------------------------------------------------ */

#ifdef TCONV_SHARED_LIBRARY
typedef void (*params_init_fn)(tconv_conv_transpose2d_params *, int64_t, int64_t, int64_t,
                               int64_t);
typedef tconv_status (*create_fn)(const tconv_conv_transpose2d_params *, const float *,
                                  const float *, const tconv_options *, tconv_op **);
typedef tconv_status (*reshape_fn)(tconv_op *, int, const int64_t *, const int64_t *, int,
                                   int64_t *, size_t *);
typedef tconv_status (*run_fn)(tconv_op *, const float *, float *, void *);
typedef void (*destroy_fn)(tconv_op *);

static void test_dlopen(void) {
    /* a result from the statically linked copy to compare with */
    tu_rng r;
    tu_rng_seed(&r, 99);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 8, 8, 4, 4);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    const int64_t in[4] = {2, 8, 12, 12};
    float w[8 * 8 * 16], b[8];
    tu_fill(&r, w, 8 * 8 * 16);
    tu_fill(&r, b, 8);
    float *x = tu_alloc(tu_numel(in, 4));
    tu_fill(&r, x, tu_numel(in, 4));
    int64_t out[4];
    const int64_t yn = 2 * 8 * 24 * 24;
    float *ref = tu_alloc(yn), *y = tu_alloc(yn);
    CHECK(tconv_conv_transpose2d(&p, 4, in, x, w, b, NULL, 0, ref, yn, out) == TCONV_OK);
    for (int round = 0; round < 3; round++) {
        void *h = dlopen(TCONV_SHARED_LIBRARY, RTLD_NOW | RTLD_LOCAL);
        CHECK_MSG(h != NULL, "dlopen %s: %s", TCONV_SHARED_LIBRARY, dlerror());
        if (!h) break;
        params_init_fn init = (params_init_fn)dlsym(h, "tconv_conv_transpose2d_params_init");
        create_fn create = (create_fn)dlsym(h, "tconv_conv_transpose2d_create");
        reshape_fn reshape = (reshape_fn)dlsym(h, "tconv_op_reshape");
        run_fn run = (run_fn)dlsym(h, "tconv_op_run");
        destroy_fn destroy = (destroy_fn)dlsym(h, "tconv_op_destroy");
        CHECK(init && create && reshape && run && destroy);
        if (init && create && reshape && run && destroy) {
            tconv_conv_transpose2d_params q;
            init(&q, 8, 8, 4, 4);
            q.stride[0] = q.stride[1] = 2;
            q.padding[0] = q.padding[1] = 1;
            tconv_options o;
            tconv_options_init(&o);
            o.num_threads = 2;
            tconv_op *op = NULL;
            size_t ws = 0;
            CHECK(create(&q, w, b, &o, &op) == TCONV_OK);
            CHECK(op && reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
            void *wsp = malloc(ws ? ws : 1);
            for (int k = 0; op && k < 4; k++) {
                tu_poison(y, yn);
                CHECK(run(op, x, y, wsp) == TCONV_OK && !memcmp(y, ref, (size_t)yn * sizeof *y));
            }
            free(wsp);
            destroy(op);
        }
        /* the workers of this copy are still parked in its code: dlclose
         * must stop them before unmapping it */
        CHECK(dlclose(h) == 0);
        void *still = dlopen(TCONV_SHARED_LIBRARY, RTLD_NOW | RTLD_NOLOAD);
        if (still) { /* kept loaded (e.g. by a sanitizer runtime): nothing unmapped */
            printf("dlclose round %d: the library stayed loaded\n", round);
            dlclose(still);
        }
    }
    free(x);
    free(ref);
    free(y);
}
#endif

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_concurrency: time limit exceeded (a hang?)\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(2);
}

/* TCONV_TEST_CONCURRENCY_SKIP: case names to leave out (e.g. "fork"),
 * for a sanitizer stage that cannot run one of them yet. */
static int skip(const char *name) {
    const char *s = getenv("TCONV_TEST_CONCURRENCY_SKIP");
    if (!s || !strstr(s, name)) return 0;
    printf("case '%s' skipped (TCONV_TEST_CONCURRENCY_SKIP)\n", name);
    return 1;
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(300);
    printf("cores usable: %d\n", tconv_max_num_threads());
    job js[NJOBS];
    jobs_make(js, 5);
    if (!skip("distinct")) test_distinct_ops(js);
    if (!skip("same_op")) test_same_op(js);
    if (!skip("reshape")) {
        test_reshape_race(&js[0]);
        test_reshape_race(&js[5]);
    }
    if (!skip("set_threads")) test_set_threads_during_runs(js);
    if (!skip("shutdown")) test_shutdown(js);
    if (!skip("fork")) test_fork(js);
    jobs_free(js);
#ifdef TCONV_SHARED_LIBRARY
    if (!skip("dlopen")) test_dlopen();
#else
    printf("no TCONV_SHARED_LIBRARY: dlopen case skipped\n");
#endif
    return tc_test_summary("test_concurrency");
}
