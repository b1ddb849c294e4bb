/* onednn3_peer.c -- onednn_peer.c for oneDNN 3.x (the PyPI wheels `onednn`
 * and `onednn-devel`): the same five figures through the 3.x C API, where
 * primitive descriptors are created directly (no operation descriptors) and
 * memory descriptors are opaque handles.  Built into tconv_bench_dnnl3 (see
 * bench/CMakeLists.txt) in place of onednn_peer.c.  The ways timed:
 *   any   : src/dst/weights format_any (oneDNN picks its blocked layout);
 *           e2e = reorder NCHW->src + primitive + reorder dst->NCHW
 *   nhwc  : src/dst NHWC, weights any; e2e with NCHW<->NHWC reorders
 *   plain : src/dst NCHW, weights in PyTorch's own layout (IOHW for
 *           deconvolution, OIHW for convolution), no reorders
 * Weight reorders (IOHW -> the primitive's layout) happen once, untimed.
 * Threads: the wheel's CPU runtime is SYCL (DNNL_CPU_RUNTIME), whose thread
 * count is the process's CPU affinity when the library loads: bench/run.py
 * starts one process per thread count with its affinity set to T CPUs (and
 * OCL_ICD_FILENAMES at the wheel's libintelocl.so); `threads` is not used
 * here.  A build with the OpenMP runtime still gets omp_set_num_threads. */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#if DNNL_VERSION_MAJOR < 3
#error "onednn3_peer.c needs oneDNN 3.x (onednn_peer.c is the 2.x peer)"
#endif
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif

#define DNNL_OK(call)                                                                 \
    do {                                                                              \
        dnnl_status_t st_ = (call);                                                   \
        if (st_ != dnnl_success) {                                                    \
            fprintf(stderr, "oneDNN: %s failed (status %d)\n", #call, (int)st_);      \
            goto fail;                                                                \
        }                                                                             \
    } while (0)

static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;

const char *bench_dnnl_info(void) {
    static char buf[160];
    const dnnl_version_t *v = dnnl_version();
    const char *rt = v->cpu_runtime == DNNL_RUNTIME_OMP   ? "OpenMP"
                     : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                     : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                     : v->cpu_runtime == DNNL_RUNTIME_SYCL ? "SYCL"
                     : v->cpu_runtime == DNNL_RUNTIME_THREADPOOL ? "threadpool"
                                                              : "other";
    snprintf(buf, sizeof buf, "oneDNN %d.%d.%d (%s), CPU runtime %s", v->major, v->minor,
             v->patch, v->hash ? v->hash : "?", rt);
    return buf;
}

static int ensure_engine(void) {
    if (g_eng) return 0;
    if (dnnl_engine_create(&g_eng, dnnl_cpu, 0) != dnnl_success) return -1;
    if (dnnl_stream_create(&g_stream, g_eng, dnnl_stream_in_order) != dnnl_success)
        return -1;
    return 0;
}

/* One way of calling the primitive, with its memories and reorders. */
typedef struct dmode {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim, r_in, r_out;
    dnnl_memory_t user_src, user_dst, src, dst, wei, bias;
    int need_in, need_out;
} dmode;

static void dmode_free(dmode *m) {
    if (m->prim) dnnl_primitive_destroy(m->prim);
    if (m->r_in) dnnl_primitive_destroy(m->r_in);
    if (m->r_out) dnnl_primitive_destroy(m->r_out);
    if (m->pd) dnnl_primitive_desc_destroy(m->pd);
    dnnl_memory_t ms[6] = {m->user_src, m->user_dst, m->src, m->dst, m->wei, m->bias};
    for (int i = 0; i < 6; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    memset(m, 0, sizeof *m);
}

static int reorder_once(dnnl_memory_t from, dnnl_memory_t to) {
    const_dnnl_memory_desc_t fmd, tmd;
    dnnl_memory_get_memory_desc(from, &fmd);
    dnnl_memory_get_memory_desc(to, &tmd);
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    int rc = -1;
    DNNL_OK(dnnl_reorder_primitive_desc_create(&rpd, fmd, g_eng, tmd, g_eng, NULL));
    DNNL_OK(dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    DNNL_OK(dnnl_primitive_execute(r, g_stream, 2, a));
    DNNL_OK(dnnl_stream_wait(g_stream));
    rc = 0;
fail:
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return rc;
}

static int make_reorder(const_dnnl_memory_desc_t from, const_dnnl_memory_desc_t to,
                        dnnl_primitive_t *out) {
    dnnl_primitive_desc_t rpd = NULL;
    int rc = -1;
    DNNL_OK(dnnl_reorder_primitive_desc_create(&rpd, from, g_eng, to, g_eng, NULL));
    DNNL_OK(dnnl_primitive_create(out, rpd));
    rc = 0;
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return rc;
}

/* Builds mode m for tags (src/dst tag, weights tag); x, w, b are the user's
 * NCHW input, PyTorch weights and bias (copied into oneDNN memories). */
static int dmode_init(dmode *m, const bench_shape *s, dnnl_format_tag_t act_tag,
                      dnnl_format_tag_t wei_tag, const float *x, const float *w,
                      const float *b) {
    memset(m, 0, sizeof *m);
    int64_t g = s->groups;
    dnnl_dims_t sd = {s->n, s->cin, s->h, s->w}, dd = {s->n, s->cout, s->hout, s->wout};
    dnnl_dims_t wd, bd = {s->cout};
    int wnd;
    dnnl_format_tag_t user_wtag;
    /* oneDNN's weights are logically (OC, IC, KH, KW) for both primitives;
     * PyTorch stores (Cin, Cout/g, kh, kw) for ConvTranspose2d (iohw in
     * oneDNN's terms) and (Cout, Cin/g, kh, kw) for Conv2d (oihw). */
    if (g == 1) {
        wnd = 4;
        wd[0] = s->cout; wd[1] = s->cin; wd[2] = s->kh; wd[3] = s->kw;
        user_wtag = s->conv2d ? dnnl_oihw : dnnl_iohw;
    } else {
        wnd = 5;
        wd[0] = g; wd[1] = s->cout / g; wd[2] = s->cin / g; wd[3] = s->kh; wd[4] = s->kw;
        user_wtag = s->conv2d ? dnnl_goihw : dnnl_giohw;
    }
    dnnl_memory_desc_t src_md = NULL, dst_md = NULL, wei_md = NULL, bias_md = NULL,
                       user_src_md = NULL, user_dst_md = NULL, user_wei_md = NULL;
    dnnl_memory_t uw = NULL;
    int rc = -1;
    DNNL_OK(dnnl_memory_desc_create_with_tag(&src_md, 4, sd, dnnl_f32, act_tag));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&dst_md, 4, dd, dnnl_f32, act_tag));
    /* wei_tag is format_any or "the user's layout" (passed as iohw / oihw). */
    DNNL_OK(dnnl_memory_desc_create_with_tag(&wei_md, wnd, wd, dnnl_f32,
                                             wei_tag == dnnl_format_tag_any ? wei_tag : user_wtag));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&bias_md, 1, bd, dnnl_f32, dnnl_a));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&user_src_md, 4, sd, dnnl_f32, dnnl_nchw));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&user_dst_md, 4, dd, dnnl_f32, dnnl_nchw));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&user_wei_md, wnd, wd, dnnl_f32, user_wtag));
    dnnl_dims_t strides = {s->sh, s->sw}, dil = {0, 0}, pl = {s->ph, s->pw}, pr;
    if (s->conv2d) {
        /* oneDNN wants out = (in + pl + pr - k) / s + 1 exactly; PyTorch's
         * floor division leaves the rows past the last window unused, so the
         * right padding is what the last window needs (may be < pl). */
        pr[0] = (s->hout - 1) * s->sh + s->kh - s->h - s->ph;
        pr[1] = (s->wout - 1) * s->sw + s->kw - s->w - s->pw;
        /* Direct, as PyTorch's own oneDNN path: auto may pick Winograd,
         * whose rounding differs from the other peers'. */
        DNNL_OK(dnnl_convolution_forward_primitive_desc_create(
            &m->pd, g_eng, dnnl_forward_inference, dnnl_convolution_direct, src_md, wei_md,
            bias_md, dst_md, strides, dil, pl, pr, NULL));
    } else {
        /* PyTorch's output_padding becomes extra right padding taken away. */
        pr[0] = s->ph - s->oph;
        pr[1] = s->pw - s->opw;
        DNNL_OK(dnnl_deconvolution_forward_primitive_desc_create(
            &m->pd, g_eng, dnnl_forward_inference, dnnl_deconvolution_direct, src_md, wei_md,
            bias_md, dst_md, strides, dil, pl, pr, NULL));
    }
    DNNL_OK(dnnl_primitive_create(&m->prim, m->pd));
    const_dnnl_memory_desc_t psrc = dnnl_primitive_desc_query_md(m->pd, dnnl_query_src_md, 0);
    const_dnnl_memory_desc_t pdst = dnnl_primitive_desc_query_md(m->pd, dnnl_query_dst_md, 0);
    const_dnnl_memory_desc_t pwei = dnnl_primitive_desc_query_md(m->pd, dnnl_query_weights_md, 0);
    DNNL_OK(dnnl_memory_create(&m->user_src, user_src_md, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->user_dst, user_dst_md, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->src, psrc, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->dst, pdst, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->wei, pwei, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->bias, bias_md, g_eng, DNNL_MEMORY_ALLOCATE));
    void *h;
    dnnl_memory_get_data_handle(m->user_src, &h);
    memcpy(h, x, sizeof(float) * s->n * s->cin * s->h * s->w);
    dnnl_memory_get_data_handle(m->bias, &h);
    memcpy(h, b, sizeof(float) * s->cout);
    /* One-time weight reorder from PyTorch's layout, outside the timing. */
    DNNL_OK(dnnl_memory_create(&uw, user_wei_md, g_eng, DNNL_MEMORY_ALLOCATE));
    dnnl_memory_get_data_handle(uw, &h);
    memcpy(h, w, sizeof(float) * s->cin * (s->cout / g) * s->kh * s->kw);
    if (reorder_once(uw, m->wei)) goto fail;
    m->need_in = !dnnl_memory_desc_equal(user_src_md, psrc);
    m->need_out = !dnnl_memory_desc_equal(user_dst_md, pdst);
    if (m->need_in && make_reorder(user_src_md, psrc, &m->r_in)) goto fail;
    if (m->need_out && make_reorder(pdst, user_dst_md, &m->r_out)) goto fail;
    /* Inputs that need no reorder: the primitive reads the user's buffer. */
    if (!m->need_in) {
        dnnl_memory_get_data_handle(m->user_src, &h);
        dnnl_memory_set_data_handle(m->src, h);
    } else if (reorder_once(m->user_src, m->src)) {
        goto fail;
    }
    rc = 0;
fail:
    if (uw) dnnl_memory_destroy(uw);
    dnnl_memory_desc_t mds[7] = {src_md, dst_md, wei_md, bias_md, user_src_md, user_dst_md,
                                 user_wei_md};
    for (int i = 0; i < 7; i++)
        if (mds[i]) dnnl_memory_desc_destroy(mds[i]);
    if (rc) dmode_free(m);
    return rc;
}

static void run_prim(dmode *m) {
    dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, m->src},
                            {DNNL_ARG_WEIGHTS, m->wei},
                            {DNNL_ARG_BIAS, m->bias},
                            {DNNL_ARG_DST, m->need_out ? m->dst : m->user_dst}};
    dnnl_primitive_execute(m->prim, g_stream, 4, a);
    dnnl_stream_wait(g_stream);
}

static void run_e2e(dmode *m) {
    if (m->need_in) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, m->user_src}, {DNNL_ARG_TO, m->src}};
        dnnl_primitive_execute(m->r_in, g_stream, 2, a);
    }
    dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, m->src},
                            {DNNL_ARG_WEIGHTS, m->wei},
                            {DNNL_ARG_BIAS, m->bias},
                            {DNNL_ARG_DST, m->need_out ? m->dst : m->user_dst}};
    dnnl_primitive_execute(m->prim, g_stream, 4, a);
    if (m->need_out) {
        dnnl_exec_arg_t o[2] = {{DNNL_ARG_FROM, m->dst}, {DNNL_ARG_TO, m->user_dst}};
        dnnl_primitive_execute(m->r_out, g_stream, 2, o);
    }
    dnnl_stream_wait(g_stream);
}

static void fn_prim(void *ctx) { run_prim(ctx); }
static void fn_e2e(void *ctx) { run_e2e(ctx); }

static void impl_name(dmode *m, char *buf, size_t cap) {
    const char *str = NULL;
    dnnl_primitive_desc_query(m->pd, dnnl_query_impl_info_str, 0, &str);
    snprintf(buf, cap, "%s", str ? str : "?");
}

/* Runs e2e once into a NaN-poisoned user output and checks it. */
static double check_mode(dmode *m, const bench_shape *s, const float *ref, int64_t check_n,
                         int64_t oc_stride) {
    if (!ref) return NAN;
    float *y;
    dnnl_memory_get_data_handle(m->user_dst, (void **)&y);
    int64_t yn = s->n * s->cout * s->hout * s->wout;
    for (int64_t i = 0; i < yn; i++) y[i] = NAN;
    run_e2e(m);
    return bench_check(s, y, 0, ref, check_n, oc_stride);
}

struct bench_dnnl {
    dmode any, nhwc, plain;
    int have_any, have_nhwc, have_plain;
};

bench_dnnl *bench_dnnl_setup(const bench_shape *s, int threads, const float *x, const float *w,
                             const float *b, const float *ref, int64_t check_n,
                             int64_t check_oc_stride, bench_dnnl_result *r) {
    memset(r, 0, sizeof *r);
    r->err_any = r->err_nhwc = r->err_plain = NAN;
    if (ensure_engine()) return NULL;
    bench_dnnl *d = calloc(1, sizeof *d);
    if (!d) return NULL;
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
    /* Before primitive creation: JIT kernels are planned for this many threads. */
    omp_set_num_threads(threads);
#else
    (void)threads; /* SYCL / TBB: the process's CPU affinity sets the count */
#endif
    if (!dmode_init(&d->any, s, dnnl_format_tag_any, dnnl_format_tag_any, x, w, b)) {
        d->have_any = 1;
        impl_name(&d->any, r->impl_any, sizeof r->impl_any);
        r->err_any = check_mode(&d->any, s, ref, check_n, check_oc_stride);
    }
    if (!dmode_init(&d->nhwc, s, dnnl_nhwc, dnnl_format_tag_any, x, w, b)) {
        d->have_nhwc = 1;
        impl_name(&d->nhwc, r->impl_nhwc, sizeof r->impl_nhwc);
        r->err_nhwc = check_mode(&d->nhwc, s, ref, check_n, check_oc_stride);
    }
    /* Any tag other than format_any means PyTorch's own weight layout. */
    if (bench_dnnl_plain && !dmode_init(&d->plain, s, dnnl_nchw, dnnl_iohw, x, w, b)) {
        d->have_plain = 1;
        impl_name(&d->plain, r->impl_plain, sizeof r->impl_plain);
        r->err_plain = check_mode(&d->plain, s, ref, check_n, check_oc_stride);
    }
    return d;
}

int bench_dnnl_items(bench_dnnl *d, bench_dnnl_result *r, bench_item *items) {
    int k = 0;
    if (d->have_any) {
        items[k++] = (bench_item){fn_e2e, &d->any, &r->e2e_any};
        items[k++] = (bench_item){fn_prim, &d->any, &r->prim_any};
    }
    if (d->have_nhwc) {
        items[k++] = (bench_item){fn_e2e, &d->nhwc, &r->e2e_nhwc};
        items[k++] = (bench_item){fn_prim, &d->nhwc, &r->prim_nhwc};
    }
    if (d->have_plain) items[k++] = (bench_item){fn_prim, &d->plain, &r->plain};
    return k;
}

void bench_dnnl_free(bench_dnnl *d) {
    if (!d) return;
    if (d->have_any) dmode_free(&d->any);
    if (d->have_nhwc) dmode_free(&d->nhwc);
    if (d->have_plain) dmode_free(&d->plain);
    free(d);
}

/* ---- backward: backward_data + backward_weights (tconv_bwd_bench) ------------ */

/* One layout choice for the two backward primitives, their memories and the
 * reorders of the end-to-end (NCHW / PyTorch-layout) call. */
typedef struct bmode {
    dnnl_primitive_desc_t fwd_pd, bd_pd, bw_pd;
    dnnl_primitive_t bd, bw, r_gy_d, r_gy_w, r_x, r_gx, r_gw;
    /* user (NCHW, PyTorch weights) and primitive-layout memories */
    dnnl_memory_t u_x, u_gy, u_gx, u_gw, gb, wei, gy_d, gy_w, x, gx, gw;
    int same_gy; /* both primitives read one diff_dst layout: one reorder */
} bmode;

struct bench_dnnl_bwd {
    bmode any, nhwc;
    int have_any, have_nhwc;
};

static void bmode_free(bmode *m) {
    dnnl_primitive_t ps[7] = {m->bd, m->bw, m->r_gy_d, m->r_gy_w, m->r_x, m->r_gx, m->r_gw};
    for (int i = 0; i < 7; i++)
        if (ps[i]) dnnl_primitive_destroy(ps[i]);
    dnnl_primitive_desc_t pds[3] = {m->fwd_pd, m->bd_pd, m->bw_pd};
    for (int i = 0; i < 3; i++)
        if (pds[i]) dnnl_primitive_desc_destroy(pds[i]);
    dnnl_memory_t ms[11] = {m->u_x, m->u_gy, m->u_gx, m->u_gw, m->gb, m->wei,
                            m->gy_d == m->u_gy ? NULL : m->gy_d,
                            m->gy_w == m->u_gy || m->gy_w == m->gy_d ? NULL : m->gy_w,
                            m->x == m->u_x ? NULL : m->x, m->gx == m->u_gx ? NULL : m->gx,
                            m->gw == m->u_gw ? NULL : m->gw};
    for (int i = 0; i < 11; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    memset(m, 0, sizeof *m);
}

static void put(dnnl_memory_t m, const float *v, int64_t n) {
    void *h;
    dnnl_memory_get_data_handle(m, &h);
    memcpy(h, v, sizeof(float) * (size_t)n);
}

/* mem = the user's memory if the primitive's layout is the user's, else a new
 * memory of the primitive's layout and (with r) the reorder between them. */
static int layout_mem(const_dnnl_memory_desc_t prim_md, dnnl_memory_t user, int to_user,
                      dnnl_memory_t *mem, dnnl_primitive_t *r) {
    const_dnnl_memory_desc_t umd;
    dnnl_memory_get_memory_desc(user, &umd);
    if (dnnl_memory_desc_equal(prim_md, umd)) {
        *mem = user;
        return 0;
    }
    if (dnnl_memory_create(mem, prim_md, g_eng, DNNL_MEMORY_ALLOCATE) != dnnl_success) return -1;
    return to_user ? make_reorder(prim_md, umd, r) : make_reorder(umd, prim_md, r);
}

static int bmode_init(bmode *m, const bench_shape *s, dnnl_format_tag_t act_tag,
                      const bench_bwd_data *d) {
    memset(m, 0, sizeof *m);
    dnnl_dims_t sd = {s->n, s->cin, s->h, s->w}, dd = {s->n, s->cout, s->hout, s->wout};
    dnnl_dims_t wd = {s->cout, s->cin, s->kh, s->kw}, bd = {s->cout};
    dnnl_format_tag_t user_wtag = s->conv2d ? dnnl_oihw : dnnl_iohw;
    dnnl_memory_desc_t src_md = NULL, dst_md = NULL, wei_md = NULL, bias_md = NULL,
                       u_src_md = NULL, u_dst_md = NULL, u_wei_md = NULL;
    int rc = -1;
    if (s->groups != 1) return -1;
    DNNL_OK(dnnl_memory_desc_create_with_tag(&src_md, 4, sd, dnnl_f32, act_tag));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&dst_md, 4, dd, dnnl_f32, act_tag));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&wei_md, 4, wd, dnnl_f32, dnnl_format_tag_any));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&bias_md, 1, bd, dnnl_f32, dnnl_a));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&u_src_md, 4, sd, dnnl_f32, dnnl_nchw));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&u_dst_md, 4, dd, dnnl_f32, dnnl_nchw));
    DNNL_OK(dnnl_memory_desc_create_with_tag(&u_wei_md, 4, wd, dnnl_f32, user_wtag));
    dnnl_dims_t strides = {s->sh, s->sw}, dil = {0, 0}, pl = {s->ph, s->pw}, pr;
    if (s->conv2d) {
        pr[0] = (s->hout - 1) * s->sh + s->kh - s->h - s->ph;
        pr[1] = (s->wout - 1) * s->sw + s->kw - s->w - s->pw;
        DNNL_OK(dnnl_convolution_forward_primitive_desc_create(
            &m->fwd_pd, g_eng, dnnl_forward_training, dnnl_convolution_direct, src_md, wei_md,
            bias_md, dst_md, strides, dil, pl, pr, NULL));
        DNNL_OK(dnnl_convolution_backward_data_primitive_desc_create(
            &m->bd_pd, g_eng, dnnl_convolution_direct, src_md, wei_md, dst_md, strides, dil, pl,
            pr, m->fwd_pd, NULL));
        DNNL_OK(dnnl_convolution_backward_weights_primitive_desc_create(
            &m->bw_pd, g_eng, dnnl_convolution_direct, src_md, wei_md, bias_md, dst_md, strides,
            dil, pl, pr, m->fwd_pd, NULL));
    } else {
        pr[0] = s->ph - s->oph;
        pr[1] = s->pw - s->opw;
        DNNL_OK(dnnl_deconvolution_forward_primitive_desc_create(
            &m->fwd_pd, g_eng, dnnl_forward_training, dnnl_deconvolution_direct, src_md, wei_md,
            bias_md, dst_md, strides, dil, pl, pr, NULL));
        DNNL_OK(dnnl_deconvolution_backward_data_primitive_desc_create(
            &m->bd_pd, g_eng, dnnl_deconvolution_direct, src_md, wei_md, dst_md, strides, dil,
            pl, pr, m->fwd_pd, NULL));
        DNNL_OK(dnnl_deconvolution_backward_weights_primitive_desc_create(
            &m->bw_pd, g_eng, dnnl_deconvolution_direct, src_md, wei_md, bias_md, dst_md,
            strides, dil, pl, pr, m->fwd_pd, NULL));
    }
    DNNL_OK(dnnl_primitive_create(&m->bd, m->bd_pd));
    DNNL_OK(dnnl_primitive_create(&m->bw, m->bw_pd));
    /* user memories */
    DNNL_OK(dnnl_memory_create(&m->u_x, u_src_md, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->u_gy, u_dst_md, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->u_gx, u_src_md, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->u_gw, u_wei_md, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->gb, bias_md, g_eng, DNNL_MEMORY_ALLOCATE));
    put(m->u_x, d->x, d->nx);
    put(m->u_gy, d->gy, d->ny);
    /* weights for backward_data: reordered once from PyTorch's layout, untimed */
    {
        dnnl_memory_t uw = NULL;
        DNNL_OK(dnnl_memory_create(&uw, u_wei_md, g_eng, DNNL_MEMORY_ALLOCATE));
        put(uw, d->w, d->nw);
        DNNL_OK(dnnl_memory_create(&m->wei, dnnl_primitive_desc_query_md(
                                                 m->bd_pd, dnnl_query_weights_md, 0),
                                   g_eng, DNNL_MEMORY_ALLOCATE));
        int wr = reorder_once(uw, m->wei);
        dnnl_memory_destroy(uw);
        if (wr) goto fail;
    }
    const_dnnl_memory_desc_t bd_gy = dnnl_primitive_desc_query_md(m->bd_pd, dnnl_query_diff_dst_md, 0);
    const_dnnl_memory_desc_t bw_gy = dnnl_primitive_desc_query_md(m->bw_pd, dnnl_query_diff_dst_md, 0);
    if (layout_mem(bd_gy, m->u_gy, 0, &m->gy_d, &m->r_gy_d)) goto fail;
    m->same_gy = dnnl_memory_desc_equal(bd_gy, bw_gy);
    if (m->same_gy) m->gy_w = m->gy_d;
    else if (layout_mem(bw_gy, m->u_gy, 0, &m->gy_w, &m->r_gy_w)) goto fail;
    if (layout_mem(dnnl_primitive_desc_query_md(m->bw_pd, dnnl_query_src_md, 0), m->u_x, 0,
                   &m->x, &m->r_x))
        goto fail;
    if (layout_mem(dnnl_primitive_desc_query_md(m->bd_pd, dnnl_query_diff_src_md, 0), m->u_gx, 1,
                   &m->gx, &m->r_gx))
        goto fail;
    if (layout_mem(dnnl_primitive_desc_query_md(m->bw_pd, dnnl_query_diff_weights_md, 0),
                   m->u_gw, 1, &m->gw, &m->r_gw))
        goto fail;
    /* the primitive-layout inputs hold the data for the primitive-only runs */
    if (m->gy_d != m->u_gy && reorder_once(m->u_gy, m->gy_d)) goto fail;
    if (m->gy_w != m->gy_d && m->gy_w != m->u_gy && reorder_once(m->u_gy, m->gy_w)) goto fail;
    if (m->x != m->u_x && reorder_once(m->u_x, m->x)) goto fail;
    rc = 0;
fail:;
    dnnl_memory_desc_t mds[7] = {src_md, dst_md, wei_md, bias_md, u_src_md, u_dst_md, u_wei_md};
    for (int i = 0; i < 7; i++)
        if (mds[i]) dnnl_memory_desc_destroy(mds[i]);
    if (rc) bmode_free(m);
    return rc;
}

static void exec_reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    dnnl_primitive_execute(r, g_stream, 2, a);
}

static void bmode_prims(bmode *m) {
    dnnl_exec_arg_t ad[3] = {{DNNL_ARG_DIFF_DST, m->gy_d}, {DNNL_ARG_WEIGHTS, m->wei},
                             {DNNL_ARG_DIFF_SRC, m->gx}};
    dnnl_primitive_execute(m->bd, g_stream, 3, ad);
    dnnl_exec_arg_t aw[4] = {{DNNL_ARG_SRC, m->x}, {DNNL_ARG_DIFF_DST, m->gy_w},
                             {DNNL_ARG_DIFF_WEIGHTS, m->gw}, {DNNL_ARG_DIFF_BIAS, m->gb}};
    dnnl_primitive_execute(m->bw, g_stream, 4, aw);
}

static void fn_bwd_prim(void *ctx) {
    bmode_prims(ctx);
    dnnl_stream_wait(g_stream);
}

static void fn_bwd_e2e(void *ctx) {
    bmode *m = ctx;
    if (m->r_gy_d) exec_reorder(m->r_gy_d, m->u_gy, m->gy_d);
    if (m->r_gy_w) exec_reorder(m->r_gy_w, m->u_gy, m->gy_w);
    if (m->r_x) exec_reorder(m->r_x, m->u_x, m->x);
    bmode_prims(m);
    if (m->r_gx) exec_reorder(m->r_gx, m->gx, m->u_gx);
    if (m->r_gw) exec_reorder(m->r_gw, m->gw, m->u_gw);
    dnnl_stream_wait(g_stream);
}

static double bmode_check(bmode *m, const bench_bwd_data *d) {
    float *gx, *gw, *gb;
    dnnl_memory_get_data_handle(m->u_gx, (void **)&gx);
    dnnl_memory_get_data_handle(m->u_gw, (void **)&gw);
    dnnl_memory_get_data_handle(m->gb, (void **)&gb);
    for (int64_t i = 0; i < d->nx; i++) gx[i] = NAN;
    for (int64_t i = 0; i < d->nw; i++) gw[i] = NAN;
    for (int64_t i = 0; i < d->nb; i++) gb[i] = NAN;
    fn_bwd_e2e(m);
    return bench_bwd_err(d, gx, gw, gb);
}

static void bmode_impl(bmode *m, char *buf, size_t cap) {
    const char *a = NULL, *b = NULL;
    dnnl_primitive_desc_query(m->bd_pd, dnnl_query_impl_info_str, 0, &a);
    dnnl_primitive_desc_query(m->bw_pd, dnnl_query_impl_info_str, 0, &b);
    snprintf(buf, cap, "data %s, weights %s", a ? a : "?", b ? b : "?");
}

bench_dnnl_bwd *bench_dnnl_bwd_setup(const bench_shape *s, const bench_bwd_data *d,
                                     bench_dnnl_bwd_result *r) {
    memset(r, 0, sizeof *r);
    r->err_any = r->err_nhwc = NAN;
    if (ensure_engine()) return NULL;
    bench_dnnl_bwd *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (!bmode_init(&b->any, s, dnnl_format_tag_any, d)) {
        b->have_any = 1;
        bmode_impl(&b->any, r->impl_any, sizeof r->impl_any);
        r->err_any = bmode_check(&b->any, d);
    }
    if (!bmode_init(&b->nhwc, s, dnnl_nhwc, d)) {
        b->have_nhwc = 1;
        bmode_impl(&b->nhwc, r->impl_nhwc, sizeof r->impl_nhwc);
        r->err_nhwc = bmode_check(&b->nhwc, d);
    }
    return b;
}

int bench_dnnl_bwd_items(bench_dnnl_bwd *b, bench_dnnl_bwd_result *r, bench_item *items) {
    int k = 0;
    if (b->have_any) {
        items[k++] = (bench_item){fn_bwd_e2e, &b->any, &r->e2e_any};
        items[k++] = (bench_item){fn_bwd_prim, &b->any, &r->prim_any};
    }
    if (b->have_nhwc) {
        items[k++] = (bench_item){fn_bwd_e2e, &b->nhwc, &r->e2e_nhwc};
        items[k++] = (bench_item){fn_bwd_prim, &b->nhwc, &r->prim_nhwc};
    }
    return k;
}

void bench_dnnl_bwd_free(bench_dnnl_bwd *b) {
    if (!b) return;
    if (b->have_any) bmode_free(&b->any);
    if (b->have_nhwc) bmode_free(&b->nhwc);
    free(b);
}
