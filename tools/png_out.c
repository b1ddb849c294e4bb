/* png_out.c -- PNG files for the tools (see png_out.h). */
#include "png_out.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TCONV_HAVE_PNG
#include <png.h>
#endif

int png_out_available(void) {
#ifdef TCONV_HAVE_PNG
    return 1;
#else
    return 0;
#endif
}

#ifdef TCONV_HAVE_PNG
/* libpng's part, into an open file; 1 on success. */
static int encode(FILE *f, const unsigned char *pix, int w, int h, int channels) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(pix + (size_t)y * (size_t)w * (size_t)channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 1;
}
#endif

int png_out_write(const char *who, const char *path, const unsigned char *pix, int w, int h,
                  int channels) {
#ifndef TCONV_HAVE_PNG
    (void)path, (void)pix, (void)w, (void)h, (void)channels;
    fprintf(stderr, "%s: this tconv was built without libpng (install libpng-dev, rebuild)\n",
            who);
    return 0;
#else
    if (w < 1 || h < 1 || (channels != 1 && channels != 3)) {
        fprintf(stderr, "%s: cannot write a %dx%d PNG with %d channels\n", who, w, h, channels);
        return 0;
    }
    const size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) {
        fprintf(stderr, "%s: out of memory\n", who);
        return 0;
    }
    snprintf(tmp, n + 16, "%s.partial", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", who, path, strerror(errno));
        free(tmp);
        return 0;
    }
    int ok = encode(f, pix, w, h, channels);
    const int err = errno;
    if (fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", who, path, strerror(errno));
        remove(tmp);
        free(tmp);
        return 0;
    }
    if (!ok) {
        fprintf(stderr, "%s: writing %s failed%s%s\n", who, path, err ? ": " : "",
                err ? strerror(err) : "");
        remove(tmp);
    }
    free(tmp);
    return ok;
#endif
}

int png_grid_layout(png_grid *g, int64_t count, int64_t channels, int64_t h, int64_t w,
                    int64_t cols, int64_t scale) {
    memset(g, 0, sizeof *g);
    g->count = count, g->channels = channels, g->h = h, g->w = w, g->scale = scale;
    g->gap = 2 * scale;
    g->cols = cols > 0 ? cols : (int64_t)ceil(sqrt((double)count));
    if (g->cols < 1) g->cols = 1;
    g->rows = (count + g->cols - 1) / g->cols;
    /* every factor is bounded by the callers (count, cols <= 4096, scale
     * <= 32, h, w <= 16 here): the products cannot overflow */
    const int64_t tw = w * scale, th = h * scale;
    g->width = g->cols * tw + (g->cols + 1) * g->gap;
    g->height = g->rows * th + (g->rows + 1) * g->gap;
    return count >= 1 && g->width <= 65535 && g->height <= 65535 &&
           g->width * g->height * channels <= PNG_GRID_MAX_BYTES;
}

int png_grid_write(const char *who, const char *path, const png_grid *g, const float *x) {
    const int64_t pw = g->width, ph = g->height, c = g->channels, s = g->scale;
    unsigned char *pix = malloc((size_t)(pw * ph * c));
    if (!pix) {
        fprintf(stderr, "%s: out of memory for a %lldx%lld picture\n", who, (long long)pw,
                (long long)ph);
        return 0;
    }
    memset(pix, 40, (size_t)(pw * ph * c)); /* dark grey frame */
    const int64_t th = g->h * s, tw = g->w * s;
    for (int64_t k = 0; k < g->count; k++) {
        const int64_t oy = g->gap + (k / g->cols) * (th + g->gap);
        const int64_t ox = g->gap + (k % g->cols) * (tw + g->gap);
        for (int64_t y = 0; y < th; y++)
            for (int64_t xx = 0; xx < tw; xx++)
                for (int64_t ch = 0; ch < c; ch++) {
                    const float v = x[((k * c + ch) * g->h + y / s) * g->w + xx / s];
                    const long q = isnan(v) ? 0 : lroundf((fmaxf(-2.0f, fminf(v, 2.0f)) + 1.0f) * 127.5f);
                    pix[((oy + y) * pw + ox + xx) * c + ch] =
                        (unsigned char)(q < 0 ? 0 : q > 255 ? 255 : q);
                }
    }
    const int ok = png_out_write(who, path, pix, (int)pw, (int)ph, (int)c);
    free(pix);
    return ok;
}
