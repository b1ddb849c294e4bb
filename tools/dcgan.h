/* dcgan.h -- the digits DCGAN that `tconv train` trains, in C on libtconv's
 * layers: the networks, the data pipeline and one training step exactly as
 * scripts/train_dcgan_digits.py's loop body computes them in PyTorch.
 *
 * Generator (seed 003's, img_channels 1; state_dict names in brackets):
 *   z (B, 100, 1, 1) -> ConvTranspose2d(100, 128, 4, 1, 0, bias=False) [net.0]
 *     -> BatchNorm2d(128) [net.1] -> ReLU               (B, 128, 4, 4)
 *     -> ConvTranspose2d(128, 64, 4, 2, 1, bias=False) [net.3]
 *     -> BatchNorm2d(64) [net.4] -> ReLU                (B, 64, 8, 8)
 *     -> ConvTranspose2d(64, 1, 4, 2, 1, bias=False) [net.6] -> Tanh  (B, 1, 16, 16)
 * Discriminator (its mirror image):
 *   x (B, 1, 16, 16) -> Conv2d(1, 64, 4, 2, 1, bias=False) [net.0] -> LeakyReLU(0.2)
 *     -> Conv2d(64, 128, 4, 2, 1, bias=False) [net.2] -> BatchNorm2d(128) [net.3]
 *     -> LeakyReLU(0.2) -> Conv2d(128, 1, 4, 1, 0, bias=False) [net.5] -> view(-1)
 * One step (batch real, noise z):
 *   fake = G(z)
 *   D: loss_d = BCEWithLogits(D(real), 0.9) + BCEWithLogits(D(fake), 0); backward; Adam step
 *   G: loss_g = BCEWithLogits(D(fake), 1); backward through D into G; Adam step
 * with Adam(lr=2e-4, betas=(0.5, 0.999)) for each network, both in training
 * mode (BatchNorm on batch statistics, running statistics updated: G's once
 * per step, D's three times).  All buffers are allocated once: after the
 * first step a step allocates nothing.
 */
#ifndef TCONV_TOOLS_DCGAN_H
#define TCONV_TOOLS_DCGAN_H

#include <stddef.h>
#include <tconv.h>

#define DCGAN_Z 100   /* noise channels */
#define DCGAN_SIDE 16 /* images are 1 x 16 x 16 */
#define DCGAN_PIXELS (DCGAN_SIDE * DCGAN_SIDE)
#define DCGAN_LR 2e-4
#define DCGAN_BETA1 0.5
#define DCGAN_BETA2 0.999
#define DCGAN_REAL_LABEL 0.9f /* the discriminator's target for real images (smoothed) */

enum { DCGAN_G_PARAMS = 7, DCGAN_D_PARAMS = 5 };

typedef struct dcgan_generator {
    tconv_conv_transpose2d_module ct[3]; /* net.0, net.3, net.6 */
    tconv_batchnorm2d bn[2];             /* net.1, net.4 */
} dcgan_generator;

typedef struct dcgan_discriminator {
    tconv_conv2d_module conv[3]; /* net.0, net.2, net.5 */
    tconv_batchnorm2d bn;        /* net.3 */
} dcgan_discriminator;

typedef struct dcgan_buffers dcgan_buffers; /* private: activations and gradients */

typedef struct dcgan {
    int64_t batch;
    dcgan_generator g;
    dcgan_discriminator d;
    tconv_param g_params[DCGAN_G_PARAMS], d_params[DCGAN_D_PARAMS]; /* PyTorch's order */
    tconv_optimizer *opt_g, *opt_d;
    dcgan_buffers *buf;
} dcgan;

/* The networks and their optimizers for batches of `batch` (>= 1) images.
 * rng: DCGAN initialisation as the script's weights_init (convolution
 * weights ~ N(0, 0.02), BatchNorm weight ~ N(1, 0.02), bias 0), drawn in
 * state_dict order, generator first; NULL: zero weights (to be loaded).
 * On failure nothing is left allocated (the library's error is set). */
tconv_status dcgan_init(dcgan *t, int64_t batch, tconv_rng *rng);
/* Frees everything; a zeroed or freed struct is a no-op. */
void dcgan_free(dcgan *t);

/* One training step on real (batch, 1, 16, 16) images in [-1, 1] and noise
 * z (batch, 100, 1, 1); *loss_d and *loss_g receive the two losses (as
 * loss.item() would).  Allocates nothing after the first call. */
tconv_status dcgan_step(dcgan *t, const float *real, const float *z, float *loss_d,
                        float *loss_g);

/* The generator in eval mode (BatchNorm on its running statistics, as
 * gen.eval()) on count noise vectors z (count, 100, 1, 1) -> out (count,
 * 1, 16, 16), run in chunks of the training batch size (the last chunk
 * padded with zero noise), so no new shape is planned; training mode is
 * restored.  The next dcgan_step runs as if this had not happened. */
tconv_status dcgan_sample(dcgan *t, int64_t count, const float *z, float *out);

/* The generator's state_dict as PyTorch's Generator names it (net.0.weight,
 * net.1.weight, net.1.bias, net.1.running_mean, net.1.running_var,
 * net.1.num_batches_tracked (I64), ..., net.6.weight), with prefix (may be
 * NULL) before each name, into writer w; the discriminator's likewise. */
tconv_status dcgan_generator_save(const dcgan *t, tconv_safetensors_writer *w, const char *prefix);
tconv_status dcgan_discriminator_save(const dcgan *t, tconv_safetensors_writer *w,
                                      const char *prefix);
/* Loads both networks' state_dicts from st under the prefixes (e.g. "G.",
 * "D."), as load_state_dict(strict=True) would check each entry. */
tconv_status dcgan_load(dcgan *t, const tconv_safetensors *st, const char *g_prefix,
                        const char *d_prefix);
/* Both optimizers' state by PyTorch's names, one entry per parameter and
 * state: "<prefix>g.<param name>.step" (F32 scalar, PyTorch 1.13's step
 * tensor), ".exp_avg", ".exp_avg_sq", then the discriminator's ("d."),
 * e.g. "adam.g.net.0.weight.exp_avg".  Entries PyTorch does not have yet
 * (before the first step) are skipped. */
tconv_status dcgan_optimizer_save(const dcgan *t, tconv_safetensors_writer *w, const char *prefix);

/* The reverse (an optimizer state_dict, as PyTorch's load_state_dict): if st
 * has any of those entries it must have all, which are loaded (*loaded 1);
 * with none, the optimizers stay fresh (*loaded 0).  A partial set is
 * TCONV_ERROR_NOT_FOUND; why (why_len bytes) says what failed. */
tconv_status dcgan_optimizer_load(dcgan *t, const tconv_safetensors *st, const char *prefix,
                                  int *loaded, char *why, size_t why_len);

/* ---- data ------------------------------------------------------------------ */

/* F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False) on
 * planes planes of ih x iw floats -> oh x ow, with PyTorch's source index
 * (scale = in/out, src = scale * (dst + 0.5) - 0.5 clamped at 0), weights
 * and summation order (each output row: the width interpolation of the two
 * source rows, then the height one).  out must not overlap in. */
void dcgan_bilinear(const float *in, int64_t planes, int64_t ih, int64_t iw, float *out,
                    int64_t oh, int64_t ow);

/* The training images of scripts/train_dcgan_digits.py from the U8 tensor
 * "images" (N, 8, 8) of grey levels 0..16 (models/digits8x8.safetensors):
 * x / 16, bilinear to 16 x 16, then 2x - 1 clamped to [-1, 1].  *images
 * receives N * 256 floats (free() them), *count N.  Values above 16 are
 * refused (TCONV_ERROR_FORMAT), as are other shapes or dtypes; on failure
 * why (why_len bytes) says what went wrong. */
tconv_status dcgan_load_digits(const char *path, float **images, int64_t *count, char *why,
                               size_t why_len);

/* Fisher-Yates shuffle of perm[0..n) = 0..n-1 drawn from rng (the epoch's
 * order of the images). */
void dcgan_permutation(tconv_rng *rng, int64_t *perm, int64_t n);

#endif
