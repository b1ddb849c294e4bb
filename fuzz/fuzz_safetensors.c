/* fuzz_safetensors.c -- libFuzzer target for the safetensors reader: any
 * bytes go to tconv_safetensors_open_memory; whatever opens is walked
 * completely (every tensor's info, lookup by name, F32 reads with the
 * header's own shape, metadata) so a header that slipped past validation
 * would show up as an out-of-bounds read under ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tconv_safetensors *st = NULL;
    tconv_status s = tconv_safetensors_open_memory(data, size, &st);
    if (s != TCONV_OK) {
        if (st != NULL || tconv_last_error()[0] == '\0') abort(); /* failures must say why */
        return 0;
    }
    (void)tconv_safetensors_metadata(st, "format");
    int64_t n = tconv_safetensors_count(st);
    for (int64_t i = 0; i < n; i++) {
        tconv_tensor_info info, again;
        if (tconv_safetensors_info(st, i, &info) != TCONV_OK) abort();
        if (tconv_safetensors_find(st, info.name, &again) != TCONV_OK) abort();
        if (info.dtype != TCONV_DTYPE_F32 || info.numel > (1 << 20)) continue;
        float *buf = malloc((size_t)(info.numel ? info.numel : 1) * sizeof(float));
        if (!buf) continue;
        if (tconv_safetensors_read_f32(st, info.name, info.ndim, info.shape, buf, info.numel) !=
            TCONV_OK)
            abort();
        free(buf);
    }
    tconv_safetensors_close(st);
    return 0;
}
