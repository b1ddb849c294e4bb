/* pad_fold.c -- the adjoint of F.pad with a padding mode: the gradient of
 * the padded input, folded back onto the input.  Input position i of a
 * dimension of length len receives the padded positions P (of
 * [0, pb + len + pa)) with pad_index(P - pb) == i: P = pb + i, its
 * reflections or wraps, and for replicate padding the whole leading
 * (i == 0) or trailing (i == len - 1) pad. */
#include "ops.h"

typedef struct fold_ranges {
    int n;
    int64_t lo[4], hi[4];
} fold_ranges;

static void add(fold_ranges *r, int64_t lo, int64_t hi) {
    if (lo < hi) {
        r->lo[r->n] = lo;
        r->hi[r->n++] = hi;
    }
}

/* padded positions (as ranges) that input position i supplies */
static fold_ranges sources(tconv_padding_mode mode, int64_t i, int64_t len, int64_t pb,
                           int64_t pa) {
    fold_ranges r = {0, {0}, {0}};
    const int64_t total = pb + len + pa;
    add(&r, pb + i, pb + i + 1);
    switch (mode) {
    case TCONV_PADDING_MODE_REFLECT: { /* P - pb = -i or 2(len-1) - i */
        const int64_t a = pb - i, b = pb + 2 * (len - 1) - i;
        if (i > 0 && a >= 0) add(&r, a, a + 1);
        if (i < len - 1 && b < total) add(&r, b, b + 1);
        break;
    }
    case TCONV_PADDING_MODE_CIRCULAR: { /* P - pb = i - len or i + len */
        const int64_t a = pb + i - len, b = pb + i + len;
        if (a >= 0) add(&r, a, a + 1);
        if (b < total) add(&r, b, b + 1);
        break;
    }
    case TCONV_PADDING_MODE_REPLICATE:
        if (i == 0) add(&r, 0, pb);
        if (i == len - 1) add(&r, pb + len, total);
        break;
    default: break;
    }
    return r;
}

typedef struct fold_ctx {
    const float *dxp;
    float *dx;
    int64_t c, h, w, pt, pb, pl, pr;
    tconv_padding_mode mode;
    tc_strides ps, xs;
    int accumulate;
} fold_ctx;

/* task = (image, channel, row) of dx */
static void fold_worker(void *ctx, int64_t b, int64_t e) {
    const fold_ctx *f = ctx;
    for (int64_t t = b; t < e; t++) {
        const int64_t y = t % f->h, c = t / f->h % f->c, n = t / f->h / f->c;
        const fold_ranges ry = sources(f->mode, y, f->h, f->pt, f->pb);
        const float *src = f->dxp + n * f->ps.n + c * f->ps.c;
        float *dst = f->dx + n * f->xs.n + c * f->xs.c + y * f->xs.h;
        for (int64_t x = 0; x < f->w; x++) {
            const fold_ranges rx = sources(f->mode, x, f->w, f->pl, f->pr);
            float v = 0.0f;
            for (int a = 0; a < ry.n; a++)
                for (int64_t P = ry.lo[a]; P < ry.hi[a]; P++)
                    for (int q = 0; q < rx.n; q++)
                        for (int64_t Q = rx.lo[q]; Q < rx.hi[q]; Q++)
                            v += src[P * f->ps.h + Q * f->ps.w];
            float *d = dst + x * f->xs.w;
            *d = f->accumulate ? *d + v : v;
        }
    }
}

void tc_fold_padding(const float *dxp, float *dx, int64_t n, int64_t c, int64_t h, int64_t w,
                     int64_t pt, int64_t pb, int64_t pl, int64_t pr, tconv_padding_mode mode,
                     tconv_layout layout, int accumulate, int nthreads) {
    fold_ctx f = {dxp, dx, c, h, w, pt, pb, pl, pr, mode,
                  tc_strides_for(layout, c, h + pt + pb, w + pl + pr),
                  tc_strides_for(layout, c, h, w), accumulate};
    tc_parallel_for(nthreads, n * c * h, fold_worker, &f);
}
