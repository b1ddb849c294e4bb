/* onednn_peer.c -- oneDNN's deconvolution primitive (ConvTranspose2d shapes)
 * or convolution primitive (conv2d shapes) through its C API, timed the ways
 * a PyTorch (NCHW) user could call it:
 *   any   : src/dst/weights format_any (oneDNN picks its blocked layout);
 *           e2e = reorder NCHW->src + primitive + reorder dst->NCHW
 *   nhwc  : src/dst NHWC, weights any; e2e with NCHW<->NHWC reorders
 *   plain : src/dst NCHW, weights in PyTorch's own layout (IOHW for
 *           deconvolution, OIHW for convolution), no reorders
 * Weight reorders (IOHW -> the primitive's layout) happen once, untimed.
 * Threads: this oneDNN uses OpenMP (DNNL_CPU_RUNTIME), so the count is set with
 * omp_set_num_threads before primitives are created and run. */
#include "bench.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>

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
                                                          : "other";
    snprintf(buf, sizeof buf, "oneDNN %d.%d.%d (%s), CPU runtime %s", v->major, v->minor,
             v->patch, v->hash ? v->hash : "?", rt);
    return buf;
}

static int ensure_engine(void) {
    if (g_eng) return 0;
    if (dnnl_engine_create(&g_eng, dnnl_cpu, 0) != dnnl_success) return -1;
    if (dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags) != dnnl_success)
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
    const dnnl_memory_desc_t *fmd, *tmd;
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

static int make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
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
    dnnl_memory_desc_t src_md, dst_md, wei_md, bias_md, user_src_md, user_dst_md, user_wei_md;
    DNNL_OK(dnnl_memory_desc_init_by_tag(&src_md, 4, sd, dnnl_f32, act_tag));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, dnnl_f32, act_tag));
    /* wei_tag is format_any or "the user's layout" (passed as iohw / oihw). */
    DNNL_OK(dnnl_memory_desc_init_by_tag(&wei_md, wnd, wd, dnnl_f32,
                                         wei_tag == dnnl_format_tag_any ? wei_tag : user_wtag));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bd, dnnl_f32, dnnl_a));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&user_src_md, 4, sd, dnnl_f32, dnnl_nchw));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&user_dst_md, 4, dd, dnnl_f32, dnnl_nchw));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&user_wei_md, wnd, wd, dnnl_f32, user_wtag));
    dnnl_dims_t strides = {s->sh, s->sw}, dil = {0, 0}, pl = {s->ph, s->pw}, pr;
    if (s->conv2d) {
        /* oneDNN wants out = (in + pl + pr - k) / s + 1 exactly; PyTorch's
         * floor division leaves the rows past the last window unused, so the
         * right padding is what the last window needs (may be < pl). */
        pr[0] = (s->hout - 1) * s->sh + s->kh - s->h - s->ph;
        pr[1] = (s->wout - 1) * s->sw + s->kw - s->w - s->pw;
        /* Direct, as PyTorch's own oneDNN path: auto may pick Winograd,
         * whose rounding differs from the other peers'. */
        dnnl_convolution_desc_t desc;
        DNNL_OK(dnnl_dilated_convolution_forward_desc_init(
            &desc, dnnl_forward_inference, dnnl_convolution_direct, &src_md, &wei_md,
            &bias_md, &dst_md, strides, dil, pl, pr));
        DNNL_OK(dnnl_primitive_desc_create(&m->pd, &desc, NULL, g_eng, NULL));
    } else {
        /* PyTorch's output_padding becomes extra right padding taken away. */
        pr[0] = s->ph - s->oph;
        pr[1] = s->pw - s->opw;
        dnnl_deconvolution_desc_t desc;
        DNNL_OK(dnnl_dilated_deconvolution_forward_desc_init(
            &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &src_md, &wei_md,
            &bias_md, &dst_md, strides, dil, pl, pr));
        DNNL_OK(dnnl_primitive_desc_create(&m->pd, &desc, NULL, g_eng, NULL));
    }
    DNNL_OK(dnnl_primitive_create(&m->prim, m->pd));
    const dnnl_memory_desc_t *psrc = dnnl_primitive_desc_query_md(m->pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *pdst = dnnl_primitive_desc_query_md(m->pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *pwei =
        dnnl_primitive_desc_query_md(m->pd, dnnl_query_weights_md, 0);
    DNNL_OK(dnnl_memory_create(&m->user_src, &user_src_md, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->user_dst, &user_dst_md, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->src, psrc, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->dst, pdst, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->wei, pwei, g_eng, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&m->bias, &bias_md, g_eng, DNNL_MEMORY_ALLOCATE));
    void *h;
    dnnl_memory_get_data_handle(m->user_src, &h);
    memcpy(h, x, sizeof(float) * s->n * s->cin * s->h * s->w);
    dnnl_memory_get_data_handle(m->bias, &h);
    memcpy(h, b, sizeof(float) * s->cout);
    /* One-time weight reorder from PyTorch's layout, outside the timing. */
    dnnl_memory_t uw;
    DNNL_OK(dnnl_memory_create(&uw, &user_wei_md, g_eng, DNNL_MEMORY_ALLOCATE));
    dnnl_memory_get_data_handle(uw, &h);
    memcpy(h, w, sizeof(float) * s->cin * (s->cout / g) * s->kh * s->kw);
    int wr = reorder_once(uw, m->wei);
    dnnl_memory_destroy(uw);
    if (wr) goto fail;
    m->need_in = !dnnl_memory_desc_equal(&user_src_md, psrc);
    m->need_out = !dnnl_memory_desc_equal(&user_dst_md, pdst);
    if (m->need_in && make_reorder(&user_src_md, psrc, &m->r_in)) goto fail;
    if (m->need_out && make_reorder(pdst, &user_dst_md, &m->r_out)) goto fail;
    /* Inputs that need no reorder: the primitive reads the user's buffer. */
    if (!m->need_in) {
        dnnl_memory_get_data_handle(m->user_src, &h);
        dnnl_memory_set_data_handle(m->src, h);
    } else if (reorder_once(m->user_src, m->src)) {
        goto fail;
    }
    return 0;
fail:
    dmode_free(m);
    return -1;
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
    /* Before primitive creation: JIT kernels are planned for this many threads. */
    omp_set_num_threads(threads);
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
