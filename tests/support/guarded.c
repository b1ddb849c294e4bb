/* guarded.c -- see guarded.h. */
#define _GNU_SOURCE
#include "guarded.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

tg_buf tg_alloc_bytes(size_t bytes, int right) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t data = (bytes + page - 1) / page * page;
    tg_buf b;
    b.map_len = data + 2 * page;
    b.map = mmap(NULL, b.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b.map == MAP_FAILED) {
        fprintf(stderr, "guarded buffer of %zu bytes: mmap failed\n", bytes);
        abort();
    }
    char *base = b.map;
    if (mprotect(base, page, PROT_NONE) || mprotect(base + page + data, page, PROT_NONE)) {
        fprintf(stderr, "guarded buffer: mprotect failed\n");
        abort();
    }
    /* floats stay 4-byte aligned: bytes is a multiple of 4 for float buffers */
    b.p = (float *)(right ? base + page + data - bytes : base + page);
    b.n = (int64_t)(bytes / sizeof(float));
    return b;
}

tg_buf tg_alloc(int64_t n, int right) { return tg_alloc_bytes((size_t)n * sizeof(float), right); }

void tg_free(tg_buf *b) {
    if (b->map) munmap(b->map, b->map_len);
    b->map = NULL;
    b->p = NULL;
}
