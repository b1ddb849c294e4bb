/* seed000_dcgan_generator.c -- seed 000, example 2 ("简化的 DCGAN 生成器"), in C.
 *
 *   class Generator(nn.Module):
 *       def __init__(self, latent_dim=100):
 *           self.fc = nn.Linear(latent_dim, 512 * 4 * 4)
 *           self.deconv = nn.Sequential(
 *               nn.ConvTranspose2d(512, 256, 4, 2, 1), nn.BatchNorm2d(256), nn.ReLU(),  # 4->8
 *               nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(),  # 8->16
 *               nn.ConvTranspose2d(128, 64, 4, 2, 1),  nn.BatchNorm2d(64),  nn.ReLU(),  # 16->32
 *               nn.ConvTranspose2d(64, 3, 4, 2, 1),    nn.Tanh())                       # 32->64
 *       def forward(self, x):
 *           x = self.fc(x).view(-1, 512, 4, 4)
 *           return self.deconv(x)
 *   gen = Generator(); z = torch.randn(1, 100); img = gen(z)
 *   print("噪声:", z.shape, "-> 图像:", img.shape)
 *
 * The seed calls gen(z) on a freshly built module, which is in training mode:
 * BatchNorm normalises with the batch's statistics.  --eval switches to
 * gen.eval() (running statistics, e.g. from a trained state_dict).
 * With --weights the state_dict names are those of the PyTorch module:
 * fc.weight, fc.bias, deconv.0.weight, deconv.0.bias, deconv.1.weight, ...
 */
#include "example_util.h"

int main(int argc, char **argv) {
    ex_args a;
    ex_parse_args(argc, argv, &a);
    tconv_rng rng;
    tconv_rng_init(&rng, a.seed);

    /* __init__: the layers, with PyTorch's default initialisation. */
    tconv_linear fc;
    CHECK(tconv_linear_init(&fc, 100, 512 * 4 * 4, 1, &rng));
    const int64_t chans[5] = {512, 256, 128, 64, 3};
    tconv_conv_transpose2d_module deconv[4];
    tconv_batchnorm2d bn[3];
    for (int i = 0; i < 4; i++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, chans[i], chans[i + 1], 4, 4);
        p.stride[0] = p.stride[1] = 2;  /* ConvTranspose2d(cin, cout, 4, 2, 1) */
        p.padding[0] = p.padding[1] = 1;
        CHECK(tconv_conv_transpose2d_module_init(&deconv[i], &p, 1, &rng));
        if (i < 3) {
            CHECK(tconv_batchnorm2d_init(&bn[i], chans[i + 1]));
            bn[i].training = !a.eval;
        }
    }

    /* Optional: load a PyTorch state_dict.  Sequential indices: ConvT at 0, 3, 6, 9; BN at 1, 4, 7. */
    if (a.weights) {
        tconv_safetensors *st;
        CHECK(tconv_safetensors_open(a.weights, &st));
        CHECK(tconv_linear_load(&fc, st, "fc"));
        char name[32];
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "deconv.%d", 3 * i);
            CHECK(tconv_conv_transpose2d_module_load(&deconv[i], st, name));
            if (i < 3) {
                snprintf(name, sizeof name, "deconv.%d", 3 * i + 1);
                CHECK(tconv_batchnorm2d_load(&bn[i], st, name));
            }
        }
        tconv_safetensors_close(st);
    }

    /* z = torch.randn(1, 100) */
    int64_t zshape[2] = {1, 100};
    float *z = ex_input(&a, &rng, "input", 2, zshape);

    /* x = self.fc(x).view(-1, 512, 4, 4) */
    int64_t fshape[2], shape[4];
    float *x = ex_alloc(zshape[0] * 512 * 4 * 4);
    CHECK(tconv_linear_forward(&fc, 2, zshape, z, x, zshape[0] * 512 * 4 * 4, fshape));
    CHECK(tconv_view_shape(2, fshape, 4, (const int64_t[]){-1, 512, 4, 4}, shape));

    /* self.deconv(x) */
    for (int i = 0; i < 4; i++) {
        x = ex_conv_transpose2d(&deconv[i], x, shape);
        if (i < 3) {
            CHECK(tconv_batchnorm2d_forward(&bn[i], 4, shape, x, x));
            CHECK(tconv_relu(x, x, ex_numel(shape, 4)));
        } else {
            CHECK(tconv_tanh(x, x, ex_numel(shape, 4)));
        }
    }

    char s1[64], s2[64];
    printf("噪声: %s -> 图像: %s\n", ex_size(s1, sizeof s1, zshape, 2), ex_size(s2, sizeof s2, shape, 4));
    ex_write(&a, x, shape, 4);

    free(z), free(x);
    tconv_linear_free(&fc);
    for (int i = 0; i < 4; i++) tconv_conv_transpose2d_module_free(&deconv[i]);
    for (int i = 0; i < 3; i++) tconv_batchnorm2d_free(&bn[i]);
    return 0;
}
