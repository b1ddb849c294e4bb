/* op_tester.h -- the one tester of every (operator, pass): a case is run
 * on every implementation this machine has (reference included), NCHW and
 * NHWC, threads 1..4, and compared with the reference kernel's result.
 *  - outputs are poisoned with NaN before each run, so an element a kernel
 *    forgets to write fails;
 *  - inputs, outputs and workspace are exact-size buffers between guard
 *    pages (guarded.h), so a one-element over-read or over-write faults
 *    (one run with the buffers against the left guard, the others right);
 *  - results must be bit-identical across thread counts;
 *  - the backward passes are also run with accumulate = 1 on random
 *    destinations (expected: destination + gradient);
 *  - the path the best implementation chose may be checked.
 * Tests feed it case tables (tests/ops/test_<op>_<pass>.c). */
#ifndef TCONV_TEST_OP_TESTER_H
#define TCONV_TEST_OP_TESTER_H

#include "tutil.h"

#include <tconv.h>

typedef struct ot_case {
    int conv2d; /* 0: conv_transpose2d (ct), 1: conv2d (cv) */
    tconv_conv_transpose2d_params ct;
    tconv_conv2d_params cv;
    int ndim;        /* 3 (unbatched) or 4 */
    int64_t in[4];   /* the forward's input shape, ndim entries */
    int64_t output_size[2]; /* conv_transpose2d forward(output_size), when set */
    int has_output_size;
    int bias;                /* the forward has a bias */
    const char *expect_path; /* NULL: any; else the best fast impl's path */
    const char *expect_path_nhwc; /* the same in NHWC */
} ot_case;

typedef struct ot_stats {
    int64_t cases, runs, fast_runs;
    double worst; /* max relative error seen */
} ot_stats;

/* Runs one case of one pass (data drawn from seed). */
void ot_run(const ot_case *c, tconv_pass pass, uint64_t seed, ot_stats *st);

/* Random valid cases: every parameter varied (groups, dilation,
 * asymmetric pairs, output_padding, padding kinds and modes, unbatched,
 * 1x1 inputs); big draws channel-rich, larger images. */
void ot_random_ct(tu_rng *r, int big, ot_case *c);
void ot_random_cv(tu_rng *r, int big, ot_case *c);

/* A conv_transpose2d / conv2d case from one row of numbers:
 * ct: N Cin H W Cout kh kw sh sw ph pw oph opw groups
 * cv: N Cin H W Cout kh kw sh sw ph pw groups */
ot_case ot_ct_case(const int64_t row[14]);
ot_case ot_cv_case(const int64_t row[12]);

/* "test_x: N cases, M runs (F on fast paths), worst rel err E". */
void ot_report(const char *name, const ot_stats *st);

#endif
