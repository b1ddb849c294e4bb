/* seed003_dcgan_generator.c -- seed 003's GAN generator ("在网络中使用（例如 GAN 生成器）"), in C.
 *
 *   class Generator(nn.Module):
 *       def __init__(self, z_dim=100, img_channels=3):
 *           self.net = nn.Sequential(
 *               nn.ConvTranspose2d(z_dim, 128, 4, 1, 0, bias=False),  # [N, 100, 1, 1] -> [N, 128, 4, 4]
 *               nn.BatchNorm2d(128), nn.ReLU(True),
 *               nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),     # -> [N, 64, 8, 8]
 *               nn.BatchNorm2d(64), nn.ReLU(True),
 *               nn.ConvTranspose2d(64, img_channels, 4, 2, 1, bias=False),  # -> [N, 3, 16, 16]
 *               nn.Tanh())
 *       def forward(self, x):
 *           return self.net(x)
 *   z = torch.randn(16, 100, 1, 1); gen = Generator(); img = gen(z)
 *   print(img.shape)  # torch.Size([16, 3, 16, 16])
 *
 * As in the seed the module is fresh, so BatchNorm is in training mode (batch
 * statistics); --eval uses the running statistics instead.  state_dict names:
 * net.0.weight, net.1.{weight,bias,running_mean,running_var}, net.3.weight,
 * net.4.*, net.6.weight.  (tconv generate runs this network trained on digits
 * with img_channels=1; see tools/cmd_generate.c.)
 */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a;
    ex_parse_args(argc, argv, &a);
    tconv_rng rng;
    tconv_rng_init(&rng, a.seed);

    /* (cin, cout, kernel, stride, padding) of the three ConvTranspose2d, bias=False */
    const int64_t layer[3][5] = {{100, 128, 4, 1, 0}, {128, 64, 4, 2, 1}, {64, 3, 4, 2, 1}};
    tconv_conv_transpose2d_module deconv[3];
    tconv_batchnorm2d bn[2];
    for (int i = 0; i < 3; i++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, layer[i][0], layer[i][1], layer[i][2], layer[i][2]);
        p.stride[0] = p.stride[1] = layer[i][3];
        p.padding[0] = p.padding[1] = layer[i][4];
        CHECK(tconv_conv_transpose2d_module_init(&deconv[i], &p, 0, &rng));
        if (i < 2) {
            CHECK(tconv_batchnorm2d_init(&bn[i], layer[i][1]));
            bn[i].training = !a.eval;
        }
    }
    if (a.weights) { /* net.0, net.3, net.6 are the ConvTranspose2d; net.1, net.4 the BatchNorm2d */
        tconv_safetensors *st;
        char name[32];
        CHECK(tconv_safetensors_open(a.weights, &st));
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "net.%d", 3 * i);
            CHECK(tconv_conv_transpose2d_module_load(&deconv[i], st, name));
            if (i < 2) {
                snprintf(name, sizeof name, "net.%d", 3 * i + 1);
                CHECK(tconv_batchnorm2d_load(&bn[i], st, name));
            }
        }
        tconv_safetensors_close(st);
    }

    /* z = torch.randn(16, 100, 1, 1) */
    int64_t shape[4] = {16, 100, 1, 1};
    float *x = ex_input(&a, &rng, "input", 4, shape);

    /* img = self.net(z): the nn.Sequential as a tconv_sequential, which in
     * eval mode folds each BatchNorm2d into its ConvTranspose2d and runs the
     * ReLU / Tanh in the convolution's store (the layers one by one:
     * seed000_dcgan_generator.c) */
    tconv_sequential *net;
    CHECK(tconv_sequential_create(&net));
    for (int i = 0; i < 3; i++) {
        CHECK(tconv_sequential_add_conv_transpose2d(net, &deconv[i]));
        if (i < 2) CHECK(tconv_sequential_add_batchnorm2d(net, &bn[i]));
        CHECK(tconv_sequential_add_activation(net, i < 2 ? TCONV_ACTIVATION_RELU
                                                         : TCONV_ACTIVATION_TANH, 0.0f));
    }
    int64_t out[TCONV_MAX_DIMS];
    int ndo;
    const int64_t yn = shape[0] * 3 * 16 * 16;
    float *y = ex_alloc(yn);
    CHECK(tconv_sequential_forward(net, 4, shape, x, y, yn, &ndo, out));

    char s[64];
    printf("%s\n", ex_size(s, sizeof s, out, ndo));
    ex_write(&a, y, out, ndo);

    tconv_sequential_destroy(net);
    free(x);
    free(y);
    for (int i = 0; i < 3; i++) tconv_conv_transpose2d_module_free(&deconv[i]);
    for (int i = 0; i < 2; i++) tconv_batchnorm2d_free(&bn[i]);
    return 0;
}
