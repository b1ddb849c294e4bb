/* cmd_shape.c -- `tconv shape`: output size of ConvTranspose2d (or Conv2d)
 * for an input, the formula with the numbers filled in, and the range of
 * output_size that forward(input, output_size) accepts.  Every number and
 * every refusal comes from the library's shape functions. */
#include <stdio.h>
#include <string.h>
#include <tconv.h>

#include "cli.h"
#include "commands.h"

static const char *CMD = "shape";

static void help(void) {
    printf(
        "Usage: tconv shape --input SHAPE --kernel K [options]\n\n"
        "Output size of nn.ConvTranspose2d (default) or nn.Conv2d (--conv2d) for an input,\n"
        "with PyTorch's formula written out and PyTorch's checks.  Pairs are (h, w): give\n"
        "one number for both or two as H,W.\n\n"
        "  -i, --input SHAPE         N,C,H,W (batched), C,H,W (unbatched) or H,W (spatial only);\n"
        "                            'x' separates too: 1x64x16x16\n"
        "  -k, --kernel K|KH,KW      kernel_size (required)\n"
        "  -s, --stride S|SH,SW      stride (default 1)\n"
        "  -p, --padding P|PH,PW     padding (default 0); Conv2d also 'same' or 'valid'\n"
        "      --output-padding OP   output_padding (ConvTranspose2d, default 0)\n"
        "  -d, --dilation D|DH,DW    dilation (default 1)\n"
        "  -g, --groups G            groups (default 1)\n"
        "      --in-channels C       in_channels (default: the input's C; groups for H,W input)\n"
        "  -o, --out-channels C      out_channels (default: in_channels)\n"
        "      --output-size H,W     ConvTranspose2d: the output_padding forward(input,\n"
        "                            output_size=...) picks, exactly as PyTorch (H,W or all dims)\n"
        "      --padding-mode MODE   Conv2d: zeros (default), reflect, replicate, circular\n"
        "      --conv2d              nn.Conv2d instead of nn.ConvTranspose2d\n"
        "  -q, --quiet               print only the output shape\n"
        "  -h, --help                this text\n\n"
        "Examples:\n"
        "  tconv shape -i 1x64x16x16 -k 2 -s 2 -o 64\n"
        "  tconv shape -i 20,16,50,100 -o 33 -k 3,5 -s 2,1 -p 4,2\n"
        "  tconv shape -i 1x16x6x6 -k 3 -s 2 -p 1 --output-size 12,12\n"
        "  tconv shape --conv2d -i 1x3x32x32 -o 16 -k 3 -p 1\n\n"
        "Exit status: 0 ok, 1 PyTorch (and tconv) refuse these arguments, 2 bad command line.\n");
}

/* The pair text "(a, b)" as PyTorch's repr prints it. */
static const char *pair_str(char *buf, size_t len, const int64_t v[2]) {
    snprintf(buf, len, "(%lld, %lld)", (long long)v[0], (long long)v[1]);
    return buf;
}

static int refused(void) {
    fprintf(stderr, "tconv shape: error: %s\n", tconv_last_error());
    return CLI_FAIL;
}

typedef struct shape_args {
    int64_t input[4];
    int input_ndim;
    int64_t kernel[2], stride[2], padding[2], output_padding[2], dilation[2];
    int64_t groups, in_channels, out_channels;
    int have_kernel, have_in, have_out;
    int64_t output_size[4];
    int output_size_len;
    tconv_padding_kind padding_kind;
    tconv_padding_mode padding_mode;
    int conv2d, quiet;
} shape_args;

/* Layer dims for the library: (C, H, W) for an H,W input; else the input. */
static int layer_input(const shape_args *a, int64_t *shape) {
    if (a->input_ndim == 2) {
        shape[0] = a->in_channels;
        shape[1] = a->input[0];
        shape[2] = a->input[1];
        return 3;
    }
    memcpy(shape, a->input, sizeof(int64_t) * (size_t)a->input_ndim);
    return a->input_ndim;
}

/* Prints the output shape: only H x W when the input was given as H,W. */
static void print_output(const shape_args *a, const int64_t *out, int ndim) {
    char buf[128];
    if (a->input_ndim == 2)
        cli_shape_x(buf, sizeof buf, out + ndim - 2, 2);
    else
        cli_shape_x(buf, sizeof buf, out, ndim);
    printf(a->quiet ? "%s\n" : "output: %s\n", buf);
}

static int run_conv_transpose(const shape_args *a) {
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, a->in_channels, a->out_channels, a->kernel[0],
                                       a->kernel[1]);
    memcpy(p.stride, a->stride, sizeof p.stride);
    memcpy(p.padding, a->padding, sizeof p.padding);
    memcpy(p.output_padding, a->output_padding, sizeof p.output_padding);
    memcpy(p.dilation, a->dilation, sizeof p.dilation);
    p.groups = a->groups;
    if (tconv_conv_transpose2d_params_check(&p) != TCONV_OK) return refused();

    int64_t in[4], out[4];
    const int ndim = layer_input(a, in);
    char b1[64], b2[64], b3[64], b4[64], b5[64];
    if (!a->quiet) {
        printf("ConvTranspose2d(%lld, %lld, kernel_size=%s, stride=%s, padding=%s, "
               "output_padding=%s, dilation=%s, groups=%lld)\n",
               (long long)p.in_channels, (long long)p.out_channels,
               pair_str(b1, sizeof b1, p.kernel_size), pair_str(b2, sizeof b2, p.stride),
               pair_str(b3, sizeof b3, p.padding), pair_str(b4, sizeof b4, p.output_padding),
               pair_str(b5, sizeof b5, p.dilation), (long long)p.groups);
        printf("weight: (%lld, %lld, %lld, %lld)  bias: (%lld)\n", (long long)p.in_channels,
               (long long)(p.out_channels / p.groups), (long long)p.kernel_size[0],
               (long long)p.kernel_size[1], (long long)p.out_channels);
        cli_shape_x(b1, sizeof b1, a->input, a->input_ndim);
        printf("input:  %s\n", b1);
    }
    if (a->output_size_len) {
        int64_t op[2];
        if (tconv_conv_transpose2d_output_padding_for_size(&p, ndim, in, a->output_size,
                                                           a->output_size_len, op) != TCONV_OK)
            return refused();
        if (!a->quiet)
            printf("output_size %s -> output_padding %s (given output_padding is ignored, as in "
                   "PyTorch)\n",
                   cli_shape_x(b1, sizeof b1, a->output_size, a->output_size_len),
                   pair_str(b2, sizeof b2, op));
        memcpy(p.output_padding, op, sizeof op);
    }
    if (!a->quiet) {
        printf("H_out = (H_in-1)*stride - 2*padding + dilation*(kernel-1) + output_padding + 1\n");
        for (int d = 0; d < 2; d++) {
            int64_t o;
            const int64_t i = in[ndim - 2 + d];
            if (tconv_conv_transpose2d_output_dim(i, p.kernel_size[d], p.stride[d], p.padding[d],
                                                  p.dilation[d], p.output_padding[d],
                                                  &o) != TCONV_OK)
                return refused();
            printf("%s = (%lld-1)*%lld - 2*%lld + %lld*(%lld-1) + %lld + 1 = %lld\n",
                   d ? "W_out" : "H_out", (long long)i, (long long)p.stride[d],
                   (long long)p.padding[d], (long long)p.dilation[d], (long long)p.kernel_size[d],
                   (long long)p.output_padding[d], (long long)o);
        }
    }
    if (tconv_conv_transpose2d_output_shape(&p, ndim, in, a->output_size_len ? a->output_size : NULL,
                                            a->output_size_len, out) != TCONV_OK)
        return refused();
    print_output(a, out, ndim);
    if (!a->quiet) {
        /* forward(input, output_size) accepts [min, min + stride - 1] per dim,
         * min being the size with output_padding 0. */
        int64_t lo[2];
        for (int d = 0; d < 2; d++)
            if (tconv_conv_transpose2d_output_dim(in[ndim - 2 + d], p.kernel_size[d], p.stride[d],
                                                  p.padding[d], p.dilation[d], 0,
                                                  &lo[d]) != TCONV_OK)
                return refused();
        printf("valid output_size for this input: H %lld..%lld, W %lld..%lld "
               "(output_padding = output_size - (%lld, %lld))\n",
               (long long)lo[0], (long long)(lo[0] + p.stride[0] - 1), (long long)lo[1],
               (long long)(lo[1] + p.stride[1] - 1), (long long)lo[0], (long long)lo[1]);
    }
    return CLI_OK;
}

static int run_conv2d(const shape_args *a) {
    tconv_conv2d_params p;
    tconv_conv2d_params_init(&p, a->in_channels, a->out_channels, a->kernel[0], a->kernel[1]);
    memcpy(p.stride, a->stride, sizeof p.stride);
    memcpy(p.padding, a->padding, sizeof p.padding);
    memcpy(p.dilation, a->dilation, sizeof p.dilation);
    p.groups = a->groups;
    p.padding_kind = a->padding_kind;
    p.padding_mode = a->padding_mode;
    if (tconv_conv2d_params_check(&p) != TCONV_OK) return refused();

    static const char *modes[] = {"zeros", "reflect", "replicate", "circular"};
    int64_t in[4], out[4];
    const int ndim = layer_input(a, in);
    char b1[64], b2[64], b3[64], b4[64];
    if (!a->quiet) {
        if (p.padding_kind == TCONV_PADDING_EXPLICIT)
            pair_str(b3, sizeof b3, p.padding);
        else
            snprintf(b3, sizeof b3, "'%s'", p.padding_kind == TCONV_PADDING_SAME ? "same" : "valid");
        printf("Conv2d(%lld, %lld, kernel_size=%s, stride=%s, padding=%s, dilation=%s, "
               "groups=%lld, padding_mode='%s')\n",
               (long long)p.in_channels, (long long)p.out_channels,
               pair_str(b1, sizeof b1, p.kernel_size), pair_str(b2, sizeof b2, p.stride), b3,
               pair_str(b4, sizeof b4, p.dilation), (long long)p.groups, modes[p.padding_mode]);
        printf("weight: (%lld, %lld, %lld, %lld)  bias: (%lld)\n", (long long)p.out_channels,
               (long long)(p.in_channels / p.groups), (long long)p.kernel_size[0],
               (long long)p.kernel_size[1], (long long)p.out_channels);
        printf("input:  %s\n", cli_shape_x(b1, sizeof b1, a->input, a->input_ndim));
        printf("H_out = floor((H_in + pad_before + pad_after - dilation*(kernel-1) - 1) / stride) "
               "+ 1\n");
        for (int d = 0; d < 2; d++) {
            int64_t before = p.padding[d], after = p.padding[d], o;
            if (p.padding_kind == TCONV_PADDING_VALID) before = after = 0;
            if (p.padding_kind == TCONV_PADDING_SAME) {
                /* PyTorch: total dilation*(k-1), the odd one extra at the end. */
                const int64_t total = p.dilation[d] * (p.kernel_size[d] - 1);
                before = total / 2;
                after = total - before;
            }
            const int64_t i = in[ndim - 2 + d];
            if (tconv_conv2d_output_dim(i, p.kernel_size[d], p.stride[d], before, after,
                                        p.dilation[d], &o) != TCONV_OK)
                return refused();
            printf("%s = floor((%lld + %lld + %lld - %lld*(%lld-1) - 1) / %lld) + 1 = %lld\n",
                   d ? "W_out" : "H_out", (long long)i, (long long)before, (long long)after,
                   (long long)p.dilation[d], (long long)p.kernel_size[d], (long long)p.stride[d],
                   (long long)o);
        }
    }
    if (tconv_conv2d_output_shape(&p, ndim, in, out) != TCONV_OK) return refused();
    print_output(a, out, ndim);
    return CLI_OK;
}

int cmd_shape(int argc, char **argv) {
    shape_args a;
    memset(&a, 0, sizeof a);
    a.stride[0] = a.stride[1] = 1;
    a.dilation[0] = a.dilation[1] = 1;
    a.groups = 1;
    int have_input = 0;
    const char *padding_text = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
#define OPT(l, s, val) ((r = cli_opt(CMD, argc, argv, &i, l, s, val)) != 0)
        if (OPT("help", "h", NULL)) {
            help();
            return CLI_OK;
        } else if (OPT("input", "i", &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_list(v, a.input, 4, &a.input_ndim) || a.input_ndim < 2)
                return cli_bad_value(CMD, "--input", v, "N,C,H,W or C,H,W or H,W");
            have_input = 1;
        } else if (OPT("kernel", "k", &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_pair(v, a.kernel)) return cli_bad_value(CMD, "--kernel", v, "K or KH,KW");
            a.have_kernel = 1;
        } else if (OPT("stride", "s", &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_pair(v, a.stride)) return cli_bad_value(CMD, "--stride", v, "S or SH,SW");
        } else if (OPT("padding", "p", &v)) {
            if (r < 0) return CLI_USAGE;
            padding_text = v;
        } else if (OPT("output-padding", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_pair(v, a.output_padding))
                return cli_bad_value(CMD, "--output-padding", v, "OP or OPH,OPW");
        } else if (OPT("dilation", "d", &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_pair(v, a.dilation))
                return cli_bad_value(CMD, "--dilation", v, "D or DH,DW");
        } else if (OPT("groups", "g", &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &a.groups)) return cli_bad_value(CMD, "--groups", v, "an integer");
        } else if (OPT("in-channels", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &a.in_channels))
                return cli_bad_value(CMD, "--in-channels", v, "an integer");
            a.have_in = 1;
        } else if (OPT("out-channels", "o", &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &a.out_channels))
                return cli_bad_value(CMD, "--out-channels", v, "an integer");
            a.have_out = 1;
        } else if (OPT("output-size", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_list(v, a.output_size, 4, &a.output_size_len))
                return cli_bad_value(CMD, "--output-size", v, "H,W");
        } else if (OPT("padding-mode", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            if (!strcmp(v, "zeros")) a.padding_mode = TCONV_PADDING_MODE_ZEROS;
            else if (!strcmp(v, "reflect")) a.padding_mode = TCONV_PADDING_MODE_REFLECT;
            else if (!strcmp(v, "replicate")) a.padding_mode = TCONV_PADDING_MODE_REPLICATE;
            else if (!strcmp(v, "circular")) a.padding_mode = TCONV_PADDING_MODE_CIRCULAR;
            else return cli_bad_value(CMD, "--padding-mode", v, "zeros, reflect, replicate or circular");
        } else if (OPT("conv2d", NULL, NULL)) {
            a.conv2d = 1;
        } else if (OPT("quiet", "q", NULL)) {
            a.quiet = 1;
        } else {
            fprintf(stderr, "tconv shape: unknown %s '%s' (see --help)\n",
                    argv[i][0] == '-' ? "option" : "argument", argv[i]);
            return CLI_USAGE;
        }
#undef OPT
    }
    if (!have_input || !a.have_kernel) {
        fprintf(stderr, "tconv shape: --input and --kernel are required (see --help)\n");
        return CLI_USAGE;
    }
    if (padding_text) {
        if (!strcmp(padding_text, "same") || !strcmp(padding_text, "valid")) {
            if (!a.conv2d) {
                fprintf(stderr, "tconv shape: padding '%s' is a Conv2d option (ConvTranspose2d "
                                "takes numbers); add --conv2d\n", padding_text);
                return CLI_USAGE;
            }
            a.padding_kind = padding_text[0] == 's' ? TCONV_PADDING_SAME : TCONV_PADDING_VALID;
        } else if (!cli_parse_pair(padding_text, a.padding)) {
            return cli_bad_value(CMD, "--padding", padding_text,
                                 a.conv2d ? "P, PH,PW, same or valid" : "P or PH,PW");
        }
    }
    if (a.conv2d && (a.output_size_len || a.output_padding[0] || a.output_padding[1])) {
        fprintf(stderr, "tconv shape: --output-size and --output-padding are ConvTranspose2d "
                        "options, not Conv2d's\n");
        return CLI_USAGE;
    }
    if (!a.conv2d && a.padding_mode != TCONV_PADDING_MODE_ZEROS) {
        fprintf(stderr, "tconv shape: error: Only \"zeros\" padding mode is supported for "
                        "ConvTranspose2d\n");
        return CLI_FAIL;
    }
    if (!a.have_in)
        a.in_channels = a.input_ndim == 2 ? a.groups : a.input[a.input_ndim - 3];
    if (!a.have_out) a.out_channels = a.in_channels;
    return a.conv2d ? run_conv2d(&a) : run_conv_transpose(&a);
}
