/* threadpool.c -- one process-wide pool of worker threads, created on first
 * use and grown on demand, reused by every run (no thread creation per
 * call).  A run is a range of independent tasks taken from a shared counter
 * by the caller and the workers, so a worker that the OS has not scheduled
 * yet (this machine is shared) simply takes fewer tasks, and the caller
 * never waits for a worker that has not started: a run is closed when its
 * tasks are gone, and only workers that joined before that are waited for.
 * Which thread computes a task never changes its result.
 *
 * Life cycle: tconv_shutdown() (and the library's destructor, at exit or
 * dlclose) stops and joins the workers; fork() in another thread waits for
 * a run in progress, and the child starts with an empty pool (its copy has
 * no threads behind it). */
#define _GNU_SOURCE
#include "core.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define TC_POOL_MAX TC_MAX_THREADS
#define TC_SPIN 20000
#define ST_CLOSED ((uint64_t)1 << 31)
#define ST_COUNT ((uint64_t)0x7fffffff)

static struct {
    pthread_mutex_t run_lock; /* one run at a time; held by shutdown and across fork */
    pthread_mutex_t m;        /* guards the run's parameters below, gen changes and stop */
    pthread_cond_t work_cv;
    int nworkers;
    int stop;
    atomic_ulong gen; /* bumped per run (and to wake workers for stop) */
    /* (gen & 0xffffffff) << 32 | CLOSED | number of workers inside the run */
    atomic_uint_fast64_t state;
    atomic_llong next; /* next task */
    void (*fn)(void *, int64_t, int64_t);
    void *ctx;
    int64_t ntasks, grain;
    int nt;
    pthread_t threads[TC_POOL_MAX + 1];
} pool = {.run_lock = PTHREAD_MUTEX_INITIALIZER,
          .m = PTHREAD_MUTEX_INITIALIZER,
          .work_cv = PTHREAD_COND_INITIALIZER};

/* The generation each worker was created at (written before it starts, so
 * a worker that starts late still may join the run that created it). */
static unsigned long start_gen[TC_POOL_MAX + 1];

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void take_tasks(void (*fn)(void *, int64_t, int64_t), void *ctx, int64_t ntasks,
                       int64_t grain) {
    for (;;) {
        const int64_t b = atomic_fetch_add(&pool.next, grain);
        if (b >= ntasks) return;
        fn(ctx, b, b + grain < ntasks ? b + grain : ntasks);
    }
}

/* Enters the run of generation g unless it is already closed. */
static int join(unsigned long g) {
    uint64_t s = atomic_load(&pool.state);
    for (;;) {
        if ((s >> 32) != (g & 0xffffffffu) || (s & ST_CLOSED)) return 0;
        if (atomic_compare_exchange_weak(&pool.state, &s, s + 1)) return 1;
    }
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
        pthread_mutex_lock(&pool.m);
        while (atomic_load(&pool.gen) == seen && !pool.stop)
            pthread_cond_wait(&pool.work_cv, &pool.m);
        if (pool.stop) {
            pthread_mutex_unlock(&pool.m);
            return NULL;
        }
        seen = atomic_load(&pool.gen);
        void (*fn)(void *, int64_t, int64_t) = pool.fn;
        void *ctx = pool.ctx;
        const int64_t ntasks = pool.ntasks, grain = pool.grain;
        const int nt = pool.nt;
        pthread_mutex_unlock(&pool.m);
        if (tid < nt && join(seen)) {
            take_tasks(fn, ctx, ntasks, grain);
            atomic_fetch_sub(&pool.state, 1);
        }
    }
}

/* fork(): no run may be in progress while the address space is copied,
 * and the child's pool has no threads. */
static void atfork_prepare(void) {
    pthread_mutex_lock(&pool.run_lock);
    pthread_mutex_lock(&pool.m);
}
static void atfork_parent(void) {
    pthread_mutex_unlock(&pool.m);
    pthread_mutex_unlock(&pool.run_lock);
}
static void atfork_child(void) {
    /* the forking thread, alone in the child, holds both locks (prepare):
     * release them; the condition variable may have had waiters that no
     * longer exist, so it starts afresh */
    pool.nworkers = 0;
    pool.stop = 0;
    pthread_cond_init(&pool.work_cv, NULL);
    pthread_mutex_unlock(&pool.m);
    pthread_mutex_unlock(&pool.run_lock);
}
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) {
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Grows the pool to n workers (ids 1..n); returns how many exist.  Called
 * with run_lock held. */
static int grow(int n) {
    pthread_once(&atfork_once, register_atfork);
    if (n > TC_POOL_MAX) n = TC_POOL_MAX;
    while (pool.nworkers < n) {
        const int id = pool.nworkers + 1;
        start_gen[id] = atomic_load(&pool.gen);
        if (pthread_create(&pool.threads[id], NULL, worker, (void *)(intptr_t)id) != 0) break;
        pool.nworkers++;
    }
    return pool.nworkers;
}

/* Stops and joins every worker; run_lock held by the caller. */
static void stop_workers(void) {
    if (pool.nworkers == 0) return;
    pthread_mutex_lock(&pool.m);
    pool.stop = 1;
    atomic_fetch_add(&pool.gen, 1);
    pthread_cond_broadcast(&pool.work_cv);
    pthread_mutex_unlock(&pool.m);
    for (int i = 1; i <= pool.nworkers; i++) pthread_join(pool.threads[i], NULL);
    pthread_mutex_lock(&pool.m);
    pool.stop = 0;
    pool.nworkers = 0;
    pthread_mutex_unlock(&pool.m);
}

void tconv_shutdown(void) {
    pthread_mutex_lock(&pool.run_lock);
    stop_workers();
    pthread_mutex_unlock(&pool.run_lock);
}

/* At exit or dlclose: no worker may outlive the code it runs.  A run still
 * in progress then (another thread inside the library) is left alone. */
__attribute__((destructor)) static void pool_fini(void) {
    if (pthread_mutex_trylock(&pool.run_lock) != 0) return;
    stop_workers();
    pthread_mutex_unlock(&pool.run_lock);
}

void tc_parallel_for(int nthreads, int64_t ntasks, void (*fn)(void *ctx, int64_t b, int64_t e),
                     void *ctx) {
    if (ntasks <= 0) return;
    if (nthreads <= 1 || ntasks == 1 || pthread_mutex_trylock(&pool.run_lock) != 0) {
        fn(ctx, 0, ntasks); /* one thread, or the pool is busy with another caller's run */
        return;
    }
    const int nw = grow(nthreads - 1);
    if (nw < 1) {
        pthread_mutex_unlock(&pool.run_lock);
        fn(ctx, 0, ntasks);
        return;
    }
    int64_t grain = ntasks / ((int64_t)nthreads * 16);
    if (grain < 1) grain = 1;
    pthread_mutex_lock(&pool.m);
    const unsigned long g = atomic_load(&pool.gen) + 1;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.ntasks = ntasks;
    pool.grain = grain;
    pool.nt = nthreads <= nw + 1 ? nthreads : nw + 1;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.state, (uint64_t)(g & 0xffffffffu) << 32);
    atomic_store_explicit(&pool.gen, g, memory_order_release);
    pthread_cond_broadcast(&pool.work_cv);
    pthread_mutex_unlock(&pool.m);
    take_tasks(fn, ctx, ntasks, grain);
    /* Close the run; wait only for workers that joined (they are running). */
    atomic_fetch_or(&pool.state, ST_CLOSED);
    int spins = 0;
    while (atomic_load(&pool.state) & ST_COUNT) {
        if (++spins < TC_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
    pthread_mutex_unlock(&pool.run_lock);
}
