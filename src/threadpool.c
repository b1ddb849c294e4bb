/* threadpool.c -- one process-wide pool of worker threads, created on first
 * use and grown on demand, reused by every run (no thread creation per
 * call).  A run hands each worker a thread id; the caller is thread 0.
 * Workers spin briefly after a run (small layers run back to back), then
 * sleep on a condition variable. */
#include "fast/fast.h"

#include <pthread.h>
#include <stdatomic.h>

#define TC_POOL_MAX 256
#define TC_SPIN 20000

static struct {
    pthread_mutex_t run_lock; /* one run at a time */
    pthread_mutex_t m;
    pthread_cond_t work_cv, done_cv;
    int nworkers;
    atomic_ulong gen;       /* bumped per run */
    atomic_int pending;     /* workers still busy in this run */
    void (*fn)(void *, int, int);
    void *ctx;
    int nt;
} pool = {.run_lock = PTHREAD_MUTEX_INITIALIZER,
          .m = PTHREAD_MUTEX_INITIALIZER,
          .work_cv = PTHREAD_COND_INITIALIZER,
          .done_cv = PTHREAD_COND_INITIALIZER};

/* The generation each worker was created at (written before pthread_create,
 * read by the new thread): a worker that reads pool.gen itself on start-up
 * may see the bump of the very run it was created for and wait forever. */
static unsigned long start_gen[TC_POOL_MAX + 1];

/* The generation each worker was created at (written before it starts, so
 * a worker that starts late still takes part in the run that created it). */
static unsigned long start_gen[TC_POOL_MAX + 1];

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker(void *arg) {
    const int tid = (int)(intptr_t)arg;
    unsigned long seen = start_gen[tid];
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&pool.gen, memory_order_acquire) == seen && spins < TC_SPIN) {
            cpu_relax();
            spins++;
        }
        /* Read the run's generation and parameters together, under the lock
         * the caller sets them under. */
        pthread_mutex_lock(&pool.m);
        while (atomic_load(&pool.gen) == seen) pthread_cond_wait(&pool.work_cv, &pool.m);
        seen = atomic_load(&pool.gen);
        void (*fn)(void *, int, int) = pool.fn;
        void *ctx = pool.ctx;
        const int nt = pool.nt;
        pthread_mutex_unlock(&pool.m);
        if (tid < nt) {
            fn(ctx, tid, nt);
            if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
                pthread_mutex_lock(&pool.m);
                pthread_cond_signal(&pool.done_cv);
                pthread_mutex_unlock(&pool.m);
            }
        }
    }
    return NULL;
}

/* Grows the pool to n workers (ids 1..n); returns how many exist. */
static int grow(int n) {
    if (n > TC_POOL_MAX) n = TC_POOL_MAX;
    while (pool.nworkers < n) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        start_gen[pool.nworkers + 1] = atomic_load(&pool.gen);
        start_gen[pool.nworkers + 1] = atomic_load(&pool.gen);
        int rc = pthread_create(&th, &at, worker, (void *)(intptr_t)(pool.nworkers + 1));
        pthread_attr_destroy(&at);
        if (rc != 0) break;
        pool.nworkers++;
    }
    return pool.nworkers;
}

void tc_parallel(int nthreads, void (*fn)(void *ctx, int tid, int nthreads), void *ctx) {
    if (nthreads <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    if (pthread_mutex_trylock(&pool.run_lock) != 0) {
        /* Busy with another caller's run: the same split, run here in turn. */
        for (int t = 0; t < nthreads; t++) fn(ctx, t, nthreads);
        return;
    }
    if (grow(nthreads - 1) < nthreads - 1) { /* no threads to be had */
        pthread_mutex_unlock(&pool.run_lock);
        for (int t = 0; t < nthreads; t++) fn(ctx, t, nthreads);
        return;
    }
    atomic_store(&pool.pending, nthreads - 1);
    pthread_mutex_lock(&pool.m);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.nt = nthreads;
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.work_cv);
    pthread_mutex_unlock(&pool.m);
    fn(ctx, 0, nthreads);
    int spins = 0;
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) != 0 && spins < TC_SPIN * 10) {
        cpu_relax();
        spins++;
    }
    if (atomic_load(&pool.pending) != 0) {
        pthread_mutex_lock(&pool.m);
        while (atomic_load(&pool.pending) != 0) pthread_cond_wait(&pool.done_cv, &pool.m);
        pthread_mutex_unlock(&pool.m);
    }
    pthread_mutex_unlock(&pool.run_lock);
}
