/* png_out.h -- the tools' PNG output: 8-bit pixel rows to a file, and a
 * grid of images (values in Tanh's [-1, 1]) for the DCGAN commands.  PNG is
 * written through libpng where the build found it (TCONV_HAVE_PNG). */
#ifndef TCONV_TOOLS_PNG_OUT_H
#define TCONV_TOOLS_PNG_OUT_H

#include <stdint.h>

/* 1 if this build writes PNG files (libpng was found), else 0. */
int png_out_available(void);

/* Writes w x h pixels of 8-bit grey (channels 1) or RGB (channels 3), rows
 * top to bottom, to path.  The file is written under a temporary name
 * beside path and renamed over it when complete: a failure leaves no
 * partial file.  Errors are printed to stderr prefixed by who ("tconv
 * generate").  Returns 1 on success, 0 on failure. */
int png_out_write(const char *who, const char *path, const unsigned char *pix, int w, int h,
                  int channels);

/* A grid of `count` images of (channels, h, w) floats, `cols` per row,
 * each image pixel drawn as a scale x scale block, 2*scale-pixel dark grey
 * gaps around and between the tiles; values map [-1, 1] -> [0, 255]
 * (clamped). */
typedef struct png_grid {
    int64_t count, channels, h, w;
    int64_t cols, rows, scale, gap;
    int64_t width, height; /* the picture's size in pixels */
} png_grid;

/* Lays out the grid (cols 0: ceil(sqrt(count))).  Returns 1 if the picture
 * is at most 65535 pixels a side and PNG_GRID_MAX_BYTES in all, else 0
 * (width and height are filled either way, for the message). */
#define PNG_GRID_MAX_BYTES ((int64_t)1 << 28)
int png_grid_layout(png_grid *g, int64_t count, int64_t channels, int64_t h, int64_t w,
                    int64_t cols, int64_t scale);

/* Draws the images x (count * channels * h * w floats, NCHW) in the grid g
 * (from png_grid_layout, which returned 1) and writes it with
 * png_out_write.  Returns 1 on success, 0 on failure (printed). */
int png_grid_write(const char *who, const char *path, const png_grid *g, const float *x);

#endif
