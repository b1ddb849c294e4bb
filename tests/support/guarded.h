/* guarded.h -- float buffers of an exact size with inaccessible pages
 * around them, so that a kernel reading or writing one element past either
 * end faults (a SIGSEGV fails the test) instead of passing unnoticed. */
#ifndef TCONV_TEST_GUARDED_H
#define TCONV_TEST_GUARDED_H

#include <stddef.h>
#include <stdint.h>

typedef struct tg_buf {
    void *map;
    size_t map_len;
    float *p; /* n floats: ending at a guard page (right) or starting after one (left) */
    int64_t n;
} tg_buf;

/* n floats (n >= 0), placed against the right guard page (right = 1: an
 * over-run faults) or the left one (right = 0: an under-run faults).
 * Aborts when out of memory.  bytes: as tg_alloc but counted in bytes
 * (workspaces). */
tg_buf tg_alloc(int64_t n, int right);
tg_buf tg_alloc_bytes(size_t bytes, int right);
void tg_free(tg_buf *b);

#endif
