/* wgrad_dot.c -- the weight gradient of a layer thin on B's side (a few
 * channels of B, e.g. a one-channel image or a one-channel output), with
 * the pixels in the lanes.  The tiles of wgrad.c put channels in the
 * lanes; with one B channel they hold a handful of sums and the packing
 * of A (every pixel of it transposed) outweighs the products.  Here A is
 * read as it lies (NCHW: each channel's pixels contiguous) and B's taps
 * are gathered once into rows of A's pixel grid,
 *   Bt[n, g, (b, ky, kx), qy*wa + qx] = B'[n, g*cbg + b, qy*sh - ph + ky*dh, qx*sw - pw + kx*dw]
 * (zero outside B'), so that
 *   dw[g*cag + a, (b, ky, kx)] = sum over n, pixels of A[n, g*cag + a, px] * Bt[n, g, (b, ky, kx), px]
 * is a batch of dot products (kernels/dot.inc); the column (b, ky, kx) is
 * dw's own order.
 *
 * Images are taken in chunks whose A and Bt stay in L2; a unit is (chunk,
 * group, block of A rows, block of columns) and writes its sums for that
 * chunk; a last pass adds the chunks in order.  The chunk count depends
 * on the problem only: the result is the same for every thread count. */
#include "plan_internal.h"

#include <string.h>

#define WD_MAX_CB 4           /* B channels per group at most */
#define WD_MAX_COLS 32        /* columns (B channels x taps) at most */
#define WD_CHUNK_FLOATS 262144 /* A and Bt floats of a chunk of images (L2) */

int tc_wdot_reshape(tc_wdot *d, const tc_kernel_set *ks, const tc_wgrad_problem *pb,
                    tconv_layout layout, int db_of_a, size_t *ws_bytes) {
    d->on = 0;
    const int64_t cag = pb->ca / pb->groups, cbg = pb->cb / pb->groups;
    int64_t cols, len;
    if (layout != TCONV_LAYOUT_NCHW || cbg > WD_MAX_CB || !ks->dot[0][0] ||
        tc_mul_overflow(cbg, pb->kh * pb->kw, &cols) || cols > WD_MAX_COLS ||
        tc_mul_overflow(pb->ha, pb->wa, &len) || len < 2 * ks->vl)
        return 0;
    /* with db of A, a row of ones after the columns gives it */
    const int64_t rows = cols + (db_of_a ? 1 : 0);
    /* per image: A's rows and the group's Bt rows (len is at most A's pixel count) */
    int64_t per_img, bt, sums;
    if (tc_mul_overflow(pb->ca + pb->groups * rows, len, &per_img)) return 0;
    const int64_t ipc = tc_imax(1, WD_CHUNK_FLOATS / per_img);
    d->ipc = ipc;
    d->nchunk = (pb->n + ipc - 1) / ipc;
    const int64_t bd[4] = {pb->n, pb->groups, rows, len}, sd[3] = {d->nchunk, pb->ca, rows};
    if (!tc_numel(bd, 4, &bt) || !tc_numel(sd, 3, &sums) || !tc_float_bytes(bt, &d->bt_bytes) ||
        !tc_float_bytes(sums, &d->sum_bytes))
        return 0;
    d->cag = cag;
    d->cbg = cbg;
    d->cols = cols;
    d->rows = rows;
    d->len = len;
    d->mr = ks->dot_mr;
    d->nc = ks->dot_nc;
    d->nab = (cag + d->mr - 1) / d->mr;
    d->ncb = (rows + d->nc - 1) / d->nc;
    *ws_bytes = d->bt_bytes + 64 + d->sum_bytes + 64;
    d->on = 1;
    return 1;
}

typedef struct wd_run {
    const tc_wdot *d;
    const tc_kernel_set *ks;
    const tc_wgrad_problem *pb;
    const float *a, *b;
    float *bt, *sums, *dw, *db;
    int accumulate;
} wd_run;

/* Bt of image n: task = image.  Row `cols` of each group, when there, is
 * ones: its dot with a row of A is that row's sum (the bias gradient when
 * A is grad_output). */
static void gather_worker(void *ctx, int64_t b, int64_t e) {
    const wd_run *r = ctx;
    const tc_wdot *d = r->d;
    const tc_wgrad_problem *pb = r->pb;
    const tc_strides s = tc_strides_for(TCONV_LAYOUT_NCHW, pb->cb, pb->hb, pb->wb);
    const int64_t hp = pb->hb + pb->ppt + pb->ppb, wp = pb->wb + pb->ppl + pb->ppr;
    const int64_t kk = pb->kh * pb->kw, rows = d->rows;
    for (int64_t n = b; n < e; n++)
        for (int64_t g = 0; g < pb->groups; g++)
            for (int64_t col = 0; col < rows; col++) {
                float *dst = r->bt + ((n * pb->groups + g) * rows + col) * d->len;
                if (col == d->cols) { /* the ones row */
                    for (int64_t i = 0; i < d->len; i++) dst[i] = 1.0f;
                    continue;
                }
                const int64_t bc = col / kk, ky = col % kk / pb->kw, kx = col % pb->kw;
                const float *plane = r->b + n * s.n + (g * d->cbg + bc) * s.c;
                const int64_t x0 = kx * pb->dw - pb->pw; /* B' column of qx = 0 */
                /* zero padding: columns qx in [xa, xb) read row[x0 + qx*sw] inside B */
                int64_t xa, xb;
                tc_inside_cols(x0, pb->sw, pb->wb, pb->wa, &xa, &xb);
                for (int64_t qy = 0; qy < pb->ha; qy++, dst += pb->wa) {
                    const int64_t y = qy * pb->sh - pb->ph + ky * pb->dh;
                    const int64_t yy =
                        y >= 0 && y < hp ? tc_pad_index(pb->pmode, y - pb->ppt, pb->hb) : -1;
                    if (yy < 0) {
                        memset(dst, 0, (size_t)pb->wa * sizeof(float));
                        continue;
                    }
                    const float *row = plane + yy * s.h;
                    if (pb->pmode != TCONV_PADDING_MODE_ZEROS) {
                        for (int64_t qx = 0; qx < pb->wa; qx++) {
                            const int64_t x = x0 + qx * pb->sw;
                            const int64_t xx =
                                x >= 0 && x < wp ? tc_pad_index(pb->pmode, x - pb->ppl, pb->wb) : -1;
                            dst[qx] = xx >= 0 ? row[xx] : 0.0f;
                        }
                        continue;
                    }
                    for (int64_t qx = 0; qx < xa; qx++) dst[qx] = 0.0f;
                    if (pb->sw == 1)
                        memcpy(dst + xa, row + x0 + xa, (size_t)(xb - xa) * sizeof(float));
                    else
                        for (int64_t qx = xa; qx < xb; qx++) dst[qx] = row[x0 + qx * pb->sw];
                    for (int64_t qx = xb; qx < pb->wa; qx++) dst[qx] = 0.0f;
                }
            }
}

/* task = (chunk, group, A block, column block), column blocks innermost:
 * a thread's run of units reuses one block of A rows */
static void unit_worker(void *ctx, int64_t b, int64_t e) {
    const wd_run *r = ctx;
    const tc_wdot *d = r->d;
    const tc_wgrad_problem *pb = r->pb;
    float out[TC_DOT_MAX * TC_DOT_MAX];
    for (int64_t u = b; u < e; u++) {
        const int64_t cb = u % d->ncb, ab = u / d->ncb % d->nab;
        const int64_t g = u / d->ncb / d->nab % pb->groups, ch = u / d->ncb / d->nab / pb->groups;
        const int64_t a0 = ab * d->mr, c0 = cb * d->nc, i0 = ch * d->ipc;
        const int mr = (int)tc_imin(d->mr, d->cag - a0), nc = (int)tc_imin(d->nc, d->rows - c0);
        const tc_dot_tile t = {
            .a = r->a + (i0 * pb->ca + g * d->cag + a0) * d->len,
            .b = r->bt + ((i0 * pb->groups + g) * d->rows + c0) * d->len,
            .a_is = pb->ca * d->len,
            .a_rs = d->len,
            .b_is = pb->groups * d->rows * d->len,
            .b_rs = d->len,
            .nimg = tc_imin(d->ipc, pb->n - i0),
            .len = d->len,
            .init = NULL,
            .out = out,
        };
        r->ks->dot[mr - 1][nc - 1](&t);
        float *sum = r->sums + (ch * pb->ca + g * d->cag + a0) * d->rows + c0;
        for (int m = 0; m < mr; m++)
            for (int j = 0; j < nc; j++) sum[m * d->rows + j] = out[m * nc + j];
    }
}

/* row a of dw (its (cbg, kh, kw) are the columns) and db[a] (the ones
 * row): the chunks added in order */
static void finish_worker(void *ctx, int64_t b, int64_t e) {
    const wd_run *r = ctx;
    const tc_wdot *d = r->d;
    const int64_t ca = r->pb->ca, ncol = r->db ? d->rows : d->cols;
    for (int64_t a = b; a < e; a++)
        for (int64_t col = 0; col < ncol; col++) {
            float v = r->sums[a * d->rows + col];
            for (int64_t ch = 1; ch < d->nchunk; ch++) v += r->sums[(ch * ca + a) * d->rows + col];
            float *o = col < d->cols ? r->dw + a * d->cols + col : r->db + a;
            *o = r->accumulate ? *o + v : v;
        }
}

void tc_wdot_run(const tc_wdot *d, const tc_kernel_set *ks, const tc_wgrad_problem *pb,
                 const float *a, const float *b, float *dw, float *db, void *ws, int nt,
                 int accumulate) {
    float *bt = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    float *sums = (float *)(((uintptr_t)bt + d->bt_bytes + 63) & ~(uintptr_t)63);
    wd_run r = {d, ks, pb, a, b, bt, sums, dw, db, accumulate};
    tc_parallel_for(nt, pb->n, gather_worker, &r);
    tc_parallel_for(nt, d->nchunk * pb->groups * d->nab * d->ncb, unit_worker, &r);
    tc_parallel_for(nt, pb->ca, finish_worker, &r);
}
