/* seed004_unet_block.c -- seed 004's UNetBlock with its skip connection, in C.
 *
 *   class UNetBlock(nn.Module):
 *       def __init__(self, in_channels, out_channels):
 *           self.conv = nn.Sequential(
 *               nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(),
 *               nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU())
 *           self.up = nn.ConvTranspose2d(out_channels, out_channels // 2, 2, stride=2)
 *       def forward(self, x, skip):
 *           x = self.conv(x)
 *           x = self.up(x)
 *           x = torch.cat([x, skip], dim=1)   # 拼接编码阶段的特征
 *           return x
 *
 * The seed gives no sizes; this program uses UNetBlock(128, 64) on
 * x (1, 128, 16, 16) and an encoder feature map skip (1, 32, 32, 32), as one
 * decoder level of a U-Net would: the result is (1, 64, 32, 32).  With
 * --input, the file holds "input" (x) and "skip".  state_dict names:
 * conv.0.weight, conv.0.bias, conv.2.weight, conv.2.bias, up.weight, up.bias.
 */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a;
    ex_parse_args(argc, argv, &a);
    tconv_rng rng;
    tconv_rng_init(&rng, a.seed);
    const int64_t in_channels = 128, out_channels = 64;

    /* __init__ */
    tconv_conv2d_module conv0, conv2;
    tconv_conv2d_params pc;
    tconv_conv2d_params_init(&pc, in_channels, out_channels, 3, 3);
    pc.padding[0] = pc.padding[1] = 1;
    CHECK(tconv_conv2d_module_init(&conv0, &pc, 1, &rng));
    tconv_conv2d_params_init(&pc, out_channels, out_channels, 3, 3);
    pc.padding[0] = pc.padding[1] = 1;
    CHECK(tconv_conv2d_module_init(&conv2, &pc, 1, &rng));
    tconv_conv_transpose2d_module up;
    tconv_conv_transpose2d_params pu;
    tconv_conv_transpose2d_params_init(&pu, out_channels, out_channels / 2, 2, 2);
    pu.stride[0] = pu.stride[1] = 2;
    CHECK(tconv_conv_transpose2d_module_init(&up, &pu, 1, &rng));
    if (a.weights) {
        tconv_safetensors *st;
        CHECK(tconv_safetensors_open(a.weights, &st));
        CHECK(tconv_conv2d_module_load(&conv0, st, "conv.0"));
        CHECK(tconv_conv2d_module_load(&conv2, st, "conv.2"));
        CHECK(tconv_conv_transpose2d_module_load(&up, st, "up"));
        tconv_safetensors_close(st);
    }

    int64_t x_shape[4] = {1, in_channels, 16, 16}, skip_shape[4] = {1, out_channels / 2, 32, 32};
    float *x = ex_input(&a, &rng, "input", 4, x_shape);
    float *skip = ex_input(&a, &rng, "skip", 4, skip_shape);
    int64_t shape[4];
    memcpy(shape, x_shape, sizeof shape);

    /* x = self.conv(x) */
    x = ex_conv2d(&conv0, x, shape);
    CHECK(tconv_relu(x, x, ex_numel(shape, 4)));
    x = ex_conv2d(&conv2, x, shape);
    CHECK(tconv_relu(x, x, ex_numel(shape, 4)));
    /* x = self.up(x) */
    x = ex_conv_transpose2d(&up, x, shape);
    /* x = torch.cat([x, skip], dim=1) */
    const float *parts[2] = {x, skip};
    const int64_t *shapes[2] = {shape, skip_shape};
    int64_t out_shape[4];
    int64_t cap = ex_numel(shape, 4) + ex_numel(skip_shape, 4);
    float *y = ex_alloc(cap);
    CHECK(tconv_cat(2, parts, shapes, 4, 1, y, cap, out_shape));

    char s1[64], s2[64], s3[64];
    printf("x: %s, skip: %s -> %s\n", ex_size(s1, sizeof s1, x_shape, 4),
           ex_size(s2, sizeof s2, skip_shape, 4), ex_size(s3, sizeof s3, out_shape, 4));
    ex_write(&a, y, out_shape, 4);

    free(x), free(skip), free(y);
    tconv_conv2d_module_free(&conv0);
    tconv_conv2d_module_free(&conv2);
    tconv_conv_transpose2d_module_free(&up);
    return 0;
}
