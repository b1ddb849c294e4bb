/* conv2d.c -- Conv2d's passes, each stated as a problem the planners run
 * (plan.h):
 *  forward          a convolution, lowered to the stride-1 transposed
 *                   convolution of the input's phase images (kernel flipped,
 *                   channels swapped; a padding mode pads the images);
 *  backward_data    grad_input = conv_transpose2d(grad_output, W) with the
 *                   same stride, dilation and groups, padding pad_top /
 *                   pad_left, cropped to the input's size; with a padding
 *                   mode, to the padded input's size, then folded back
 *                   onto the input (the adjoint of F.pad, pad_fold.c);
 *  backward_weight  dw[oc, ic, ky, kx] = sum dy[oc, q] xpad[ic, q*s - p + k*d]:
 *                   A = grad_output, B = x (padded by the mode);
 *                   grad_bias sums A. */
#include "ops.h"

static int moded(const tc_geom *g) {
    return g->padding_mode != TCONV_PADDING_MODE_ZEROS &&
           (g->pad_t || g->pad_b || g->pad_l || g->pad_r);
}

static int lower_forward(const tc_geom *g, tc_problem *pb) { return tc_lower_convolution(g, pb); }

static int lower_backward_data(const tc_geom *g, tc_problem *pb) {
    const int m = moded(g);
    /* a mode's pads beyond the input (replicate has no limit) would make a
     * padded gradient far larger than the input: the reference takes them */
    if (m && (g->pad_t > g->h_in || g->pad_b > g->h_in || g->pad_l > g->w_in ||
              g->pad_r > g->w_in))
        return 0;
    tc_geom t = *g; /* the transposed convolution grad_output -> grad_input */
    t.c_in = g->c_out;
    t.h_in = g->h_out;
    t.w_in = g->w_out;
    t.c_out = g->c_in;
    t.h_out = g->h_in + (m ? g->pad_t + g->pad_b : 0);
    t.w_out = g->w_in + (m ? g->pad_l + g->pad_r : 0);
    t.ph = m ? 0 : g->pad_t;
    t.pw = m ? 0 : g->pad_l;
    t.oph = t.opw = 0;
    return tc_lower_transposed(&t, pb);
}

static int lower_backward_weight(const tc_geom *g, tc_wgrad_problem *pb) {
    if (g->n <= 0 || g->c_out <= 0 || g->c_in <= 0) return 0;
    const int m = moded(g);
    if (m && (g->pad_t > g->h_in || g->pad_b > g->h_in || g->pad_l > g->w_in ||
              g->pad_r > g->w_in))
        return 0;
    *pb = (tc_wgrad_problem){.n = g->n, .groups = g->groups, .ca = g->c_out, .ha = g->h_out,
                             .wa = g->w_out, .cb = g->c_in, .hb = g->h_in, .wb = g->w_in,
                             .kh = g->kh, .kw = g->kw, .sh = g->sh, .sw = g->sw,
                             .ph = m ? 0 : g->pad_t, .pw = m ? 0 : g->pad_l, .dh = g->dh,
                             .dw = g->dw,
                             .pmode = m ? g->padding_mode : TCONV_PADDING_MODE_ZEROS,
                             .ppt = m ? g->pad_t : 0, .ppb = m ? g->pad_b : 0,
                             .ppl = m ? g->pad_l : 0, .ppr = m ? g->pad_r : 0};
    return 1;
}

static const tc_op_row rows[3] = {
    [TCONV_PASS_FORWARD] = {.name = "conv2d forward",
                            .flip = 1,
                            .lower = lower_forward,
                            .conv_shaped = 1},
    [TCONV_PASS_BACKWARD_DATA] = {.name = "conv2d backward_data",
                                  .swap = 1,
                                  .lower = lower_backward_data,
                                  .folds = 1},
    [TCONV_PASS_BACKWARD_WEIGHT] = {.name = "conv2d backward_weight",
                                    .lower_wgrad = lower_backward_weight,
                                    .db_of_a = 1},
};

const tc_op_row *tc_conv2d_row(tconv_pass pass) { return &rows[pass]; }
