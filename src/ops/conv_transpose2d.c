/* conv_transpose2d.c -- ConvTranspose2d's passes, each stated as a problem
 * the planners run (plan.h):
 *  forward          the transposed convolution itself;
 *  backward_data    grad_input = conv2d(grad_output, W) with the same
 *                   stride, padding, dilation and groups, cropped to the
 *                   input's size (output_padding only adds rows that no
 *                   input reads): a convolution, lowered as conv2d's forward
 *                   is (kernel flipped, channels swapped, phase images);
 *  backward_weight  dw[ic, oc, ky, kx] = sum x[ic, q] dy[oc, q*s - p + k*d]:
 *                   A = x, B = grad_output; grad_bias sums B. */
#include "ops.h"

static int lower_forward(const tc_geom *g, tc_problem *pb) { return tc_lower_transposed(g, pb); }

static int lower_backward_data(const tc_geom *g, tc_problem *pb) {
    tc_geom c = *g; /* the convolution grad_output -> grad_input */
    c.c_in = g->c_out;
    c.h_in = g->h_out;
    c.w_in = g->w_out;
    c.c_out = g->c_in;
    c.h_out = g->h_in;
    c.w_out = g->w_in;
    c.pad_t = c.pad_b = g->ph;
    c.pad_l = c.pad_r = g->pw;
    c.padding_mode = TCONV_PADDING_MODE_ZEROS;
    return tc_lower_convolution(&c, pb);
}

static int lower_backward_weight(const tc_geom *g, tc_wgrad_problem *pb) {
    if (g->n <= 0 || g->c_out <= 0 || g->c_in <= 0) return 0;
    *pb = (tc_wgrad_problem){.n = g->n, .groups = g->groups, .ca = g->c_in, .ha = g->h_in,
                             .wa = g->w_in, .cb = g->c_out, .hb = g->h_out, .wb = g->w_out,
                             .kh = g->kh, .kw = g->kw, .sh = g->sh, .sw = g->sw, .ph = g->ph,
                             .pw = g->pw, .dh = g->dh, .dw = g->dw,
                             .pmode = TCONV_PADDING_MODE_ZEROS};
    return 1;
}

static const tc_op_row rows[3] = {
    [TCONV_PASS_FORWARD] = {.name = "conv_transpose2d forward", .lower = lower_forward},
    [TCONV_PASS_BACKWARD_DATA] = {.name = "conv_transpose2d backward_data",
                                  .flip = 1,
                                  .swap = 1,
                                  .lower = lower_backward_data,
                                  .conv_shaped = 1},
    [TCONV_PASS_BACKWARD_WEIGHT] = {.name = "conv_transpose2d backward_weight",
                                    .lower_wgrad = lower_backward_weight,
                                    .db_of_a = 0},
};

const tc_op_row *tc_ct2d_row(tconv_pass pass) { return &rows[pass]; }
