/* seed000_unet_decoder.c -- seed 000, example 3 ("U-Net 解码器部分"), in C.
 *
 *   decoder = nn.Sequential(
 *       nn.ConvTranspose2d(256, 128, kernel_size=2, stride=2),   # 8x8 -> 16x16
 *       nn.Conv2d(128, 128, 3, padding=1),
 *       nn.ReLU(),
 *       nn.ConvTranspose2d(128, 64, kernel_size=2, stride=2),    # 16x16 -> 32x32
 *       nn.Conv2d(64, 64, 3, padding=1),
 *       nn.ReLU())
 *   x = torch.randn(1, 256, 8, 8)
 *   output = decoder(x)
 *   print("输入:", x.shape, "-> 输出:", output.shape)
 *
 * state_dict names: 0.weight, 0.bias, 1.weight, 1.bias, 3.*, 4.* (a bare
 * Sequential's keys are its indices).
 */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a;
    ex_parse_args(argc, argv, &a);
    tconv_rng rng;
    tconv_rng_init(&rng, a.seed);

    tconv_conv_transpose2d_module up[2];
    tconv_conv2d_module conv[2];
    const int64_t chans[3] = {256, 128, 64};
    for (int i = 0; i < 2; i++) {
        tconv_conv_transpose2d_params pu; /* ConvTranspose2d(cin, cout, kernel_size=2, stride=2) */
        tconv_conv_transpose2d_params_init(&pu, chans[i], chans[i + 1], 2, 2);
        pu.stride[0] = pu.stride[1] = 2;
        CHECK(tconv_conv_transpose2d_module_init(&up[i], &pu, 1, &rng));
        tconv_conv2d_params pc; /* Conv2d(cout, cout, 3, padding=1) */
        tconv_conv2d_params_init(&pc, chans[i + 1], chans[i + 1], 3, 3);
        pc.padding[0] = pc.padding[1] = 1;
        CHECK(tconv_conv2d_module_init(&conv[i], &pc, 1, &rng));
    }
    if (a.weights) {
        tconv_safetensors *st;
        char name[16];
        CHECK(tconv_safetensors_open(a.weights, &st));
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof name, "%d", 3 * i);
            CHECK(tconv_conv_transpose2d_module_load(&up[i], st, name));
            snprintf(name, sizeof name, "%d", 3 * i + 1);
            CHECK(tconv_conv2d_module_load(&conv[i], st, name));
        }
        tconv_safetensors_close(st);
    }

    /* x = torch.randn(1, 256, 8, 8) */
    int64_t in_shape[4] = {1, 256, 8, 8}, shape[4];
    float *x = ex_input(&a, &rng, "input", 4, in_shape);
    memcpy(shape, in_shape, sizeof shape);

    /* output = decoder(x) */
    for (int i = 0; i < 2; i++) {
        x = ex_conv_transpose2d(&up[i], x, shape);
        x = ex_conv2d(&conv[i], x, shape);
        CHECK(tconv_relu(x, x, ex_numel(shape, 4)));
    }

    char s1[64], s2[64];
    printf("输入: %s -> 输出: %s\n", ex_size(s1, sizeof s1, in_shape, 4), ex_size(s2, sizeof s2, shape, 4));
    ex_write(&a, x, shape, 4);

    free(x);
    for (int i = 0; i < 2; i++) {
        tconv_conv_transpose2d_module_free(&up[i]);
        tconv_conv2d_module_free(&conv[i]);
    }
    return 0;
}
