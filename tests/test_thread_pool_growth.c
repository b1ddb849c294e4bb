/* The worker pool grows on demand: every run below asks for one thread more
 * than the last, so each run starts a worker just before the run it was
 * created for (a worker that missed its first run once hung the caller).
 * Results stay bit-identical to one thread; alarm() turns a hang into a
 * failure. */
#include "check.h"
#include "tutil.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>
#include <unistd.h>

/* Threads alive in this process (Linux: /proc/self/task), -1 if unknown. */
static int live_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

int main(void) {
    alarm(120);
    tu_rng r;
    tu_rng_seed(&r, 77);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 8, 8, 3, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    float w[8 * 8 * 9], b[8];
    tu_fill(&r, w, 8 * 8 * 9);
    tu_fill(&r, b, 8);
    const int64_t in[4] = {4, 8, 12, 12};
    const int64_t xn = tu_numel(in, 4);
    float *x = tu_alloc(xn);
    tu_fill(&r, x, xn);
    tconv_impl impls[8];
    const int nimpl = tu_impls(impls);
    int runs = 0;
    for (int i = 0; i < nimpl; i++) {
        tconv_options o;
        tconv_options_init(&o);
        o.impl = impls[i];
        o.num_threads = 1;
        tconv_op *op = NULL;
        CHECK(tconv_conv_transpose2d_create(&p, w, b, &o, &op) == TCONV_OK);
        if (!op) continue;
        int64_t out[4];
        size_t ws = 0;
        CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
        const int64_t yn = tu_numel(out, 4);
        float *y1 = tu_alloc(yn), *yt = tu_alloc(yn);
        void *wsp = ws ? malloc(ws) : NULL;
        tu_poison(y1, yn);
        CHECK(tconv_op_run(op, x, y1, wsp) == TCONV_OK);
        for (int t = 2; t <= 24; t++) {
            CHECK(tconv_op_set_num_threads(op, t) == TCONV_OK);
            tu_poison(yt, yn);
            CHECK(tconv_op_run(op, x, yt, wsp) == TCONV_OK);
            CHECK_MSG(!memcmp(y1, yt, (size_t)yn * sizeof(float)), "impl %s, %d threads differ",
                      tconv_impl_name(impls[i]), t);
            runs++;
        }
        /* far more threads than cores: the pool stays at what the machine
         * can use (tconv_max_num_threads() workers at most, plus this one) */
        CHECK(tconv_op_set_num_threads(op, 100000) == TCONV_OK);
        tu_poison(yt, yn);
        CHECK(tconv_op_run(op, x, yt, wsp) == TCONV_OK);
        CHECK(!memcmp(y1, yt, (size_t)yn * sizeof(float)));
        const int live = live_threads();
        CHECK_MSG(live < 0 || live <= tconv_max_num_threads() + 1,
                  "%d threads alive after a run asking for 100000 (max %d)", live,
                  tconv_max_num_threads());
        free(wsp);
        free(y1);
        free(yt);
        tconv_op_destroy(op);
    }
    free(x);
    printf("thread pool growth: %d runs, 2..24 threads, %d impls\n", runs, nimpl);
    return tc_test_summary("test_thread_pool_growth");
}
