/* fuzz_safetensors.c -- libFuzzer target for the safetensors reader: any
 * bytes go to tconv_safetensors_open_memory; whatever opens is walked
 * completely (every tensor's info, lookup by name, F32 reads with the
 * header's own shape, metadata) so a header that slipped past validation
 * would show up as an out-of-bounds read under ASan.
 *
 * Large headers from small inputs: an input that starts with 'R' is a
 * recipe for a file of up to 16 MiB -- prefix, a unit repeated n times
 * (each '#' in it replaced by the repetition's number, so keys and names
 * can be distinct), suffix -- with the header length filled in.  That is
 * how the fuzzer reaches costs that grow with the number of entries (a
 * check that is quadratic in them trips -timeout) while inputs stay small.
 *   'R' | plen u8 | prefix | ulen u8 | unit | n u24 LE | dlen u8 | suffix
 * The last dlen bytes of prefix+units+suffix are the data, the rest the
 * header. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EXPANDED ((size_t)16 << 20)

/* The file a recipe describes (malloc'd), or NULL if it is not one. */
static uint8_t *expand(const uint8_t *d, size_t n, size_t *out_size) {
    size_t i = 1;
    if (n < 2 || d[0] != 'R') return NULL;
    const size_t plen = d[i++];
    if (n < i + plen + 1) return NULL;
    const uint8_t *prefix = d + i;
    i += plen;
    const size_t ulen = d[i++];
    if (n < i + ulen + 4) return NULL;
    const uint8_t *unit = d + i;
    i += ulen;
    const size_t reps = (size_t)d[i] | (size_t)d[i + 1] << 8 | (size_t)d[i + 2] << 16;
    const size_t dlen = d[i + 3];
    i += 4;
    const uint8_t *suffix = d + i;
    const size_t slen = n - i;
    /* a '#' becomes 7 digits */
    size_t hashes = 0;
    for (size_t k = 0; k < ulen; k++) hashes += unit[k] == '#';
    const size_t unit_out = ulen + 6 * hashes;
    if (reps && unit_out > (MAX_EXPANDED - plen - slen) / reps) return NULL;
    const size_t body = plen + unit_out * reps + slen;
    if (dlen > body) return NULL;
    uint8_t *f = malloc(8 + body);
    if (!f) return NULL;
    const uint64_t hl = body - dlen;
    for (int k = 0; k < 8; k++) f[k] = (uint8_t)(hl >> (8 * k));
    size_t o = 8;
    memcpy(f + o, prefix, plen);
    o += plen;
    for (size_t r = 0; r < reps; r++)
        for (size_t k = 0; k < ulen; k++) {
            if (unit[k] == '#') {
                char num[8];
                snprintf(num, sizeof num, "%07zu", r % 10000000);
                memcpy(f + o, num, 7);
                o += 7;
            } else {
                f[o++] = unit[k];
            }
        }
    memcpy(f + o, suffix, slen);
    *out_size = 8 + body;
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t big_size = 0;
    uint8_t *big = expand(data, size, &big_size);
    if (big) data = big, size = big_size;
    tconv_safetensors *st = NULL;
    tconv_status s = tconv_safetensors_open_memory(data, size, &st);
    if (s != TCONV_OK) {
        if (st != NULL || tconv_last_error()[0] == '\0') abort(); /* failures must say why */
        free(big);
        return 0;
    }
    (void)tconv_safetensors_metadata(st, "format");
    int64_t n = tconv_safetensors_count(st);
    for (int64_t i = 0; i < n; i++) {
        tconv_tensor_info info, again;
        if (tconv_safetensors_info(st, i, &info) != TCONV_OK) abort();
        if (tconv_safetensors_find(st, info.name, &again) != TCONV_OK) abort();
        if (again.name != info.name || again.numel != info.numel) abort(); /* names are unique */
        if (info.dtype != TCONV_DTYPE_F32 || info.numel > (1 << 20)) continue;
        float *buf = malloc((size_t)(info.numel ? info.numel : 1) * sizeof(float));
        if (!buf) continue;
        if (tconv_safetensors_read_f32(st, info.name, info.ndim, info.shape, buf, info.numel) !=
            TCONV_OK)
            abort();
        free(buf);
    }
    tconv_safetensors_close(st);
    free(big);
    return 0;
}
