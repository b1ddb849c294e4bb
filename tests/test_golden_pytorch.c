/* Golden cases from PyTorch (tests/golden/pytorch_cases.txt, written by
 * tests/golden/gen_golden.py): every case through every implementation this
 * machine has (operator API, 1 and 2 threads, NCHW and NHWC, poisoned outputs) and through
 * the one-call function, within max|diff| / max(1, max|ref|) < 1e-5 of
 * PyTorch's float64 result; PyTorch's refusals refused with its message.
 * The gradients autograd computed for a random grad_output (grad_input,
 * grad_weight, grad_bias) through every implementation's backward passes
 * and the one-call backward with every output mask. */
#include "check.h"
#include "tutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

#define TOL 1e-5
#define MAXV 64

typedef struct gcase {
    char name[128];
    int is_ct;
    int64_t prow[16];
    int ndim;
    int64_t in[4];
    int osz_len;
    int64_t osz[4];
    int64_t nx, nw, nb, ny;
    float *x, *w, *b, *y;
    int has_grads; /* autograd's gradients follow */
    int64_t ndy, ndx, ndw, ndb;
    float *dy, *dx, *dw, *db;
    int yndim;
    int64_t yshape[4];
    char err[1024]; /* PyTorch's message when it refused */
} gcase;

static int read_floats(FILE *f, int64_t *n, float **out) {
    long long c;
    if (fscanf(f, "%lld", &c) != 1 || c < 0 || c > (1 << 24)) return 0;
    *n = c;
    *out = tu_alloc(c);
    for (long long i = 0; i < c; i++)
        if (fscanf(f, "%f", &(*out)[i]) != 1) return 0;
    return 1;
}

static int read_dims(FILE *f, int *nd, int64_t *dims, int maxd) {
    if (fscanf(f, "%d", nd) != 1 || *nd < 0 || *nd > maxd) return 0;
    for (int i = 0; i < *nd; i++) {
        long long v;
        if (fscanf(f, "%lld", &v) != 1) return 0;
        dims[i] = v;
    }
    return 1;
}

/* Reads one case; returns 1 on success, 0 at end of file, -1 on a format error. */
static int read_case(FILE *f, gcase *c) {
    char tok[64];
    memset(c, 0, sizeof *c);
    int got_case = 0;
    while (fscanf(f, "%63s", tok) == 1) {
        if (tok[0] == '#') { /* comment line */
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {}
        } else if (!strcmp(tok, "CASE")) {
            if (fscanf(f, "%127s", c->name) != 1) return -1;
            got_case = 1;
        } else if (!strcmp(tok, "OP")) {
            if (fscanf(f, "%63s", tok) != 1) return -1;
            c->is_ct = !strcmp(tok, "conv_transpose2d");
        } else if (!strcmp(tok, "P")) {
            for (int i = 0; i < 13; i++) {
                long long v;
                if (fscanf(f, "%lld", &v) != 1) return -1;
                c->prow[i] = v;
            }
        } else if (!strcmp(tok, "IN")) {
            if (!read_dims(f, &c->ndim, c->in, 4)) return -1;
        } else if (!strcmp(tok, "OSZ")) {
            if (!read_dims(f, &c->osz_len, c->osz, 4)) return -1;
        } else if (!strcmp(tok, "X")) {
            if (!read_floats(f, &c->nx, &c->x)) return -1;
        } else if (!strcmp(tok, "W")) {
            if (!read_floats(f, &c->nw, &c->w)) return -1;
        } else if (!strcmp(tok, "B")) {
            if (!read_floats(f, &c->nb, &c->b)) return -1;
        } else if (!strcmp(tok, "Y")) {
            if (!read_dims(f, &c->yndim, c->yshape, 4)) return -1;
            c->ny = tu_numel(c->yshape, c->yndim);
            c->y = tu_alloc(c->ny);
            for (int64_t i = 0; i < c->ny; i++)
                if (fscanf(f, "%f", &c->y[i]) != 1) return -1;
        } else if (!strcmp(tok, "DY")) {
            if (!read_floats(f, &c->ndy, &c->dy)) return -1;
            c->has_grads = 1;
        } else if (!strcmp(tok, "DX")) {
            if (!read_floats(f, &c->ndx, &c->dx)) return -1;
        } else if (!strcmp(tok, "DW")) {
            if (!read_floats(f, &c->ndw, &c->dw)) return -1;
        } else if (!strcmp(tok, "DB")) {
            if (!read_floats(f, &c->ndb, &c->db)) return -1;
        } else if (!strcmp(tok, "ERR")) {
            if (fgetc(f) != ' ' || !fgets(c->err, sizeof c->err, f)) return -1;
            c->err[strcspn(c->err, "\n")] = '\0';
        } else if (!strcmp(tok, "END")) {
            return got_case ? 1 : -1;
        } else {
            return -1;
        }
    }
    return got_case ? -1 : 0;
}

static void free_case(gcase *c) {
    free(c->x);
    free(c->w);
    free(c->b);
    free(c->y);
    free(c->dy);
    free(c->dx);
    free(c->dw);
    free(c->db);
}

static void ct_params(const gcase *c, tconv_conv_transpose2d_params *p) {
    const int64_t *r = c->prow;
    tconv_conv_transpose2d_params_init(p, r[0], r[1], r[2], r[3]);
    p->stride[0] = r[4], p->stride[1] = r[5];
    p->padding[0] = r[6], p->padding[1] = r[7];
    p->output_padding[0] = r[8], p->output_padding[1] = r[9];
    p->dilation[0] = r[10], p->dilation[1] = r[11];
    p->groups = r[12];
}

static void cv_params(const gcase *c, tconv_conv2d_params *p) {
    const int64_t *r = c->prow;
    tconv_conv2d_params_init(p, r[0], r[1], r[2], r[3]);
    p->stride[0] = r[4], p->stride[1] = r[5];
    p->padding[0] = r[6], p->padding[1] = r[7];
    p->dilation[0] = r[8], p->dilation[1] = r[9];
    p->groups = r[10];
    p->padding_kind = (tconv_padding_kind)r[11];
    p->padding_mode = (tconv_padding_mode)r[12];
}

static double worst = 0.0;
static int runs = 0;

/* Compares a result of the case's shape against PyTorch's. */
static void compare(const gcase *c, const char *how, tconv_status st, const int64_t *shape,
                    const float *y) {
    CHECK_MSG(st == TCONV_OK, "%s [%s]: %s", c->name, how, tconv_last_error());
    if (st) return;
    CHECK_MSG(!memcmp(shape, c->yshape, (size_t)c->yndim * sizeof *shape), "%s [%s]: shape",
              c->name, how);
    double e = tu_max_rel_err(y, c->y, c->ny);
    CHECK_MSG(e < TOL, "%s [%s]: max rel err %g", c->name, how, e);
    if (!(e <= worst)) worst = e;
    runs++;
}

static void compare_grad(const gcase *c, const char *how, const char *what, const float *got,
                         const float *ref, int64_t n) {
    const double e = tu_max_rel_err(got, ref, n);
    CHECK_MSG(e < TOL, "%s [%s]: %s max rel err %g", c->name, how, what, e);
    if (!(e <= worst)) worst = e;
    runs++;
}

/* The backward passes: operators of every impl (1 and 2 threads, NCHW),
 * then the one-call backward with each output mask (masked-out buffers
 * untouched). */
static void run_backward(const gcase *c, const tconv_conv_transpose2d_params *p,
                         const tconv_conv2d_params *q, const tconv_impl *impls, int nimpl) {
    const int64_t *osz = c->osz_len ? c->osz : NULL;
    float *dx = tu_alloc(c->ndx), *dw = tu_alloc(c->ndw), *db = tu_alloc(c->yshape[c->yndim - 3]);
    const int64_t cout = c->yshape[c->yndim - 3];
    for (int i = 0; i < nimpl; i++)
        for (int threads = 1; threads <= 2; threads++) {
            tconv_options o;
            tconv_options_init(&o);
            o.impl = impls[i];
            o.num_threads = threads;
            char how[64];
            snprintf(how, sizeof how, "%s, %d thread%s", tconv_impl_name(impls[i]), threads,
                     threads > 1 ? "s" : "");
            tconv_op *d = NULL, *w = NULL;
            tconv_status st =
                c->is_ct ? tconv_conv_transpose2d_backward_data_create(p, c->w, &o, &d)
                         : tconv_conv2d_backward_data_create(q, c->w, &o, &d);
            if (st == TCONV_OK)
                st = c->is_ct ? tconv_conv_transpose2d_backward_weight_create(p, &o, &w)
                              : tconv_conv2d_backward_weight_create(q, &o, &w);
            int64_t shape[4];
            size_t wsd = 0, wsw = 0;
            if (st == TCONV_OK) st = tconv_op_reshape(d, c->ndim, c->in, osz, c->osz_len, shape, &wsd);
            if (st == TCONV_OK) st = tconv_op_reshape(w, c->ndim, c->in, osz, c->osz_len, shape, &wsw);
            CHECK_MSG(st == TCONV_OK, "%s [%s]: backward operators: %s", c->name, how,
                      tconv_last_error());
            if (st == TCONV_OK) {
                void *a = wsd ? malloc(wsd) : NULL, *b = wsw ? malloc(wsw) : NULL;
                tu_poison(dx, c->ndx);
                tu_poison(dw, c->ndw);
                tu_poison(db, cout);
                CHECK(tconv_op_run_backward_data(d, c->dy, dx, a) == TCONV_OK);
                CHECK(tconv_op_run_backward_weight(w, c->x, c->dy, dw, c->nb ? db : NULL, b) ==
                      TCONV_OK);
                compare_grad(c, how, "grad_input", dx, c->dx, c->ndx);
                compare_grad(c, how, "grad_weight", dw, c->dw, c->ndw);
                if (c->nb) compare_grad(c, how, "grad_bias", db, c->db, c->ndb);
                free(a);
                free(b);
            }
            tconv_op_destroy(d);
            tconv_op_destroy(w);
        }
    /* one-call, every mask: computed buffers equal autograd, others untouched */
    for (int m = 1; m < 8; m++) {
        const int mask[3] = {m & 1, (m >> 1) & 1, (m >> 2) & 1 && c->nb};
        for (int64_t k = 0; k < c->ndx; k++) dx[k] = 7.0f;
        for (int64_t k = 0; k < c->ndw; k++) dw[k] = 7.0f;
        for (int64_t k = 0; k < cout; k++) db[k] = 7.0f;
        const tconv_status st =
            c->is_ct ? tconv_conv_transpose2d_backward(p, c->ndim, c->in, c->x, c->w, osz,
                                                       c->osz_len, c->yshape, c->dy, mask, dx,
                                                       dw, db)
                     : tconv_conv2d_backward(q, c->ndim, c->in, c->x, c->w, c->yshape, c->dy,
                                             mask, dx, dw, db);
        CHECK_MSG(st == TCONV_OK, "%s: one-call backward mask %d: %s", c->name, m,
                  tconv_last_error());
        if (st) continue;
        char how[64];
        snprintf(how, sizeof how, "one-call mask %d%d%d", mask[0], mask[1], mask[2]);
        const float *outs[3] = {dx, dw, db};
        const float *refs[3] = {c->dx, c->dw, c->db};
        const int64_t ns[3] = {c->ndx, c->ndw, c->nb ? c->ndb : cout};
        static const char *names[3] = {"grad_input", "grad_weight", "grad_bias"};
        for (int g = 0; g < 3; g++) {
            if (mask[g]) {
                compare_grad(c, how, names[g], outs[g], refs[g], ns[g]);
            } else {
                int untouched = 1;
                for (int64_t k = 0; k < ns[g]; k++) untouched &= outs[g][k] == 7.0f;
                CHECK_MSG(untouched, "%s [%s]: %s written though masked out", c->name, how,
                          names[g]);
            }
        }
    }
    /* grad_output of another shape: refused, naming both shapes */
    int64_t bad[4];
    memcpy(bad, c->yshape, sizeof bad);
    bad[c->yndim - 1] += 1;
    const tconv_status st =
        c->is_ct ? tconv_conv_transpose2d_backward(p, c->ndim, c->in, c->x, c->w, osz, c->osz_len,
                                                   bad, c->dy, NULL, dx, dw, db)
                 : tconv_conv2d_backward(q, c->ndim, c->in, c->x, c->w, bad, c->dy, NULL, dx, dw,
                                         db);
    CHECK_MSG(st == TCONV_ERROR_INVALID_ARGUMENT && tu_err_has("grad_output has shape") &&
                  tu_err_has("but the forward's output"),
              "%s: grad_output shape mismatch: %s", c->name, tconv_last_error());
    free(dx);
    free(dw);
    free(db);
}

static void run_case(const gcase *c, const tconv_impl *impls, int nimpl) {
    tconv_conv_transpose2d_params p;
    tconv_conv2d_params q;
    if (c->is_ct)
        ct_params(c, &p);
    else
        cv_params(c, &q);
    const int64_t *osz = c->osz_len ? c->osz : NULL;
    const float *bias = c->nb ? c->b : NULL;
    int64_t shape[4] = {-1, -1, -1, -1};
    if (c->err[0]) {
        /* PyTorch refused: so must tconv, with PyTorch's words. */
        tconv_status st = c->is_ct
                              ? tconv_conv_transpose2d_output_shape(&p, c->ndim, c->in, osz,
                                                                    c->osz_len, shape)
                              : tconv_conv2d_output_shape(&q, c->ndim, c->in, shape);
        CHECK_MSG(st == TCONV_ERROR_INVALID_ARGUMENT, "%s: accepted what PyTorch refuses",
                  c->name);
        CHECK_MSG(!strcmp(tconv_last_error(), c->err), "%s:\n  tconv:   %s\n  PyTorch: %s",
                  c->name, tconv_last_error(), c->err);
        float y[4] = {1, 2, 3, 4};
        st = c->is_ct ? tconv_conv_transpose2d(&p, c->ndim, c->in, c->x, c->w, bias, osz,
                                               c->osz_len, y, 4, shape)
                      : tconv_conv2d(&q, c->ndim, c->in, c->x, c->w, bias, y, 4, shape);
        CHECK_MSG(st != TCONV_OK && y[0] == 1 && y[3] == 4, "%s: one-call", c->name);
        return;
    }
    CHECK_MSG(c->ndim == c->yndim, "%s: case file", c->name);
    float *y = tu_alloc(c->ny);
    for (int i = 0; i < nimpl; i++) {
        for (int threads = 1; threads <= 2; threads++) {
            tconv_options o;
            tconv_options_init(&o);
            o.impl = impls[i];
            o.num_threads = threads;
            tconv_op *op = NULL;
            tconv_status st = c->is_ct ? tconv_conv_transpose2d_create(&p, c->w, bias, &o, &op)
                                       : tconv_conv2d_create(&q, c->w, bias, &o, &op);
            CHECK_MSG(st == TCONV_OK, "%s: create: %s", c->name, tconv_last_error());
            if (st) continue;
            size_t ws = 0;
            st = tconv_op_reshape(op, c->ndim, c->in, osz, c->osz_len, shape, &ws);
            void *wsp = NULL;
            if (st == TCONV_OK) {
                wsp = ws ? malloc(ws) : NULL;
                tu_poison(y, c->ny);
                st = tconv_op_run(op, c->x, y, wsp);
            }
            char how[64];
            snprintf(how, sizeof how, "%s, %d thread%s", tconv_impl_name(impls[i]), threads,
                     threads > 1 ? "s" : "");
            compare(c, how, st, shape, y);
            free(wsp);
            tconv_op_destroy(op);
        }
    }
    /* channels-last: NHWC in, NHWC out, transposed back to compare */
    if (c->ndim == 4 && c->ny > 0) {
        float *xh = tu_alloc(c->nx), *yt = tu_alloc(c->ny);
        tu_nchw_to_nhwc(c->x, xh, c->in[0], c->in[1], c->in[2], c->in[3]);
        for (int i = 0; i < nimpl; i++) {
            tconv_options o;
            tconv_options_init(&o);
            o.impl = impls[i];
            o.layout = TCONV_LAYOUT_NHWC;
            o.num_threads = 2;
            tconv_op *op = NULL;
            tconv_status st = c->is_ct ? tconv_conv_transpose2d_create(&p, c->w, bias, &o, &op)
                                       : tconv_conv2d_create(&q, c->w, bias, &o, &op);
            CHECK_MSG(st == TCONV_OK, "%s: NHWC create: %s", c->name, tconv_last_error());
            if (st) continue;
            size_t ws = 0;
            void *wsp = NULL;
            st = tconv_op_reshape(op, 4, c->in, osz, c->osz_len, shape, &ws);
            if (st == TCONV_OK) {
                wsp = ws ? malloc(ws) : NULL;
                tu_poison(y, c->ny);
                st = tconv_op_run(op, xh, y, wsp);
                tu_nhwc_to_nchw(y, yt, shape[0], shape[1], shape[2], shape[3]);
            }
            char how[64];
            snprintf(how, sizeof how, "%s, NHWC", tconv_impl_name(impls[i]));
            compare(c, how, st, shape, yt);
            free(wsp);
            tconv_op_destroy(op);
        }
        free(xh);
        free(yt);
    }
    /* the one-call function, exact capacity */
    tu_poison(y, c->ny);
    tconv_status st = c->is_ct ? tconv_conv_transpose2d(&p, c->ndim, c->in, c->x, c->w, bias,
                                                        osz, c->osz_len, y, c->ny, shape)
                               : tconv_conv2d(&q, c->ndim, c->in, c->x, c->w, bias, y, c->ny,
                                              shape);
    compare(c, "one-call", st, shape, y);
    free(y);
    if (c->has_grads) {
        CHECK_MSG(c->ndy == c->ny && c->ndw == c->nw, "%s: case file (gradients)", c->name);
        run_backward(c, &p, &q, impls, nimpl);
    }
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "tests/golden/pytorch_cases.txt";
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s (run from the repository root)", path);
    if (!f) return tc_test_summary("test_golden_pytorch");
    tconv_impl impls[8];
    int nimpl = tu_impls(impls);
    int ncases = 0, nerr = 0, nback = 0;
    for (;;) {
        gcase c;
        int r = read_case(f, &c);
        CHECK_MSG(r >= 0, "%s: format error after case %d", path, ncases);
        if (r <= 0) {
            free_case(&c);
            break;
        }
        ncases++;
        nerr += c.err[0] != 0;
        nback += c.has_grads;
        run_case(&c, impls, nimpl);
        free_case(&c);
    }
    fclose(f);
    printf("golden: %d PyTorch cases (%d refusals, %d with gradients), %d comparisons over %d "
           "impls, worst rel err %.3g\n",
           ncases, nerr, nback, runs, nimpl, worst);
    CHECK(ncases >= 40);
    CHECK(nback >= 30);
    return tc_test_summary("test_golden_pytorch");
}
