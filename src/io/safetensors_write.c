/* safetensors_write.c -- a writer for the safetensors format, as
 * safetensors.torch.save_file writes it: u64 little-endian header length,
 * the JSON header (space-padded so the data starts at a multiple of 8),
 * then each tensor's little-endian bytes, contiguous, in the order added.
 * The file is written to a temporary name beside the target and renamed
 * over it only when complete, so a failed save leaves no partial file. */
#define _POSIX_C_SOURCE 200809L
#include "../nn/nn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct wt {
    char *name;
    tconv_dtype dtype;
    int ndim;
    int64_t shape[TCONV_MAX_DIMS];
    int64_t nbytes;
    unsigned char *data; /* little-endian */
} wt;

struct tconv_safetensors_writer {
    wt *t;
    int64_t count, cap;
    char **meta; /* key, value, key, value, ... */
    int64_t meta_count;
};

static int dtype_size(tconv_dtype d) {
    switch (d) {
    case TCONV_DTYPE_BOOL: case TCONV_DTYPE_U8: case TCONV_DTYPE_I8:
    case TCONV_DTYPE_F8_E4M3: case TCONV_DTYPE_F8_E5M2: return 1;
    case TCONV_DTYPE_I16: case TCONV_DTYPE_U16: case TCONV_DTYPE_F16: case TCONV_DTYPE_BF16: return 2;
    case TCONV_DTYPE_I32: case TCONV_DTYPE_U32: case TCONV_DTYPE_F32: return 4;
    case TCONV_DTYPE_F64: case TCONV_DTYPE_I64: case TCONV_DTYPE_U64: return 8;
    }
    return 0;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static bool valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n;
        uint32_t cp;
        if (c < 0x80) { p++; continue; }
        if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
        else return false;
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n + 1;
    }
    return true;
}

static bool host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

tconv_status tconv_safetensors_writer_create(tconv_safetensors_writer **w) {
    tc_clear_error();
    if (!w) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors writer: NULL argument");
    *w = calloc(1, sizeof **w);
    if (!*w) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    return TCONV_OK;
}

void tconv_safetensors_writer_destroy(tconv_safetensors_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->count; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    for (int64_t i = 0; i < 2 * w->meta_count; i++) free(w->meta[i]);
    free(w->meta);
    free(w->t);
    free(w);
}

static char *str_copy(const char *s) {
    const size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

tconv_status tconv_safetensors_writer_add(tconv_safetensors_writer *w, const char *name,
                                          tconv_dtype dtype, int ndim, const int64_t *shape,
                                          const void *data) {
    tc_clear_error();
    char b[400];
    if (!w || !name) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors writer: NULL argument");
    if (!name[0] || !valid_utf8(name) || strcmp(name, "__metadata__") == 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "safetensors writer: tensor name '%.200s' must be non-empty UTF-8 and not "
                       "__metadata__", name);
    for (int64_t i = 0; i < w->count; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "safetensors writer: tensor '%.200s' was already added", name);
    const int size = dtype_size(dtype);
    if (!size) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors writer: unknown dtype %d", (int)dtype);
    if (ndim < 0 || ndim > TCONV_MAX_DIMS || (ndim && !shape))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "safetensors writer: '%.200s' has %d dimensions (0..%d allowed)", name, ndim,
                       TCONV_MAX_DIMS);
    int64_t numel, nbytes;
    if (!tc_numel(shape, ndim, &numel) || tc_mul_overflow(numel, size, &nbytes) ||
        (uint64_t)nbytes > SIZE_MAX)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "safetensors writer: '%.200s' has a negative or overflowing shape %s", name,
                       tc_fmt_dims(b, sizeof b, shape, ndim));
    if (nbytes > 0 && !data)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors writer: data of '%.200s' is NULL", name);
    if (w->count == w->cap) {
        const int64_t nc = w->cap ? 2 * w->cap : 16;
        wt *t = realloc(w->t, (size_t)nc * sizeof *t);
        if (!t) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors writer: out of memory");
        w->t = t;
        w->cap = nc;
    }
    wt *t = &w->t[w->count];
    memset(t, 0, sizeof *t);
    t->name = str_copy(name);
    t->data = malloc((size_t)nbytes + 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors writer: out of memory copying '%.200s'", name);
    }
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    t->nbytes = nbytes;
    if (nbytes) memcpy(t->data, data, (size_t)nbytes);
    if (size > 1 && !host_is_little_endian()) /* the file is little-endian */
        for (int64_t i = 0; i < nbytes; i += size)
            for (int a = 0, z = size - 1; a < z; a++, z--) {
                const unsigned char c = t->data[i + a];
                t->data[i + a] = t->data[i + z];
                t->data[i + z] = c;
            }
    w->count++;
    return TCONV_OK;
}

tconv_status tconv_safetensors_writer_set_metadata(tconv_safetensors_writer *w, const char *key,
                                                   const char *value) {
    tc_clear_error();
    if (!w || !key || !value)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors writer: NULL argument");
    if (!valid_utf8(key) || !valid_utf8(value))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "safetensors writer: metadata key and value must be UTF-8");
    char *v = str_copy(value);
    if (!v) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    for (int64_t i = 0; i < w->meta_count; i++)
        if (strcmp(w->meta[2 * i], key) == 0) { /* a key set again: the new value */
            free(w->meta[2 * i + 1]);
            w->meta[2 * i + 1] = v;
            return TCONV_OK;
        }
    char *k = str_copy(key);
    char **m = realloc(w->meta, (size_t)(2 * w->meta_count + 2) * sizeof *m);
    if (!k || !m) {
        free(k);
        free(v);
        if (m) w->meta = m;
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    }
    w->meta = m;
    m[2 * w->meta_count] = k;
    m[2 * w->meta_count + 1] = v;
    w->meta_count++;
    return TCONV_OK;
}

/* ---- the header ------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *s, const char *src, size_t n) {
    if (s->oom) return;
    if (s->n + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 256;
        while (nc < s->n + n + 1) nc *= 2;
        char *p = realloc(s->p, nc);
        if (!p) {
            s->oom = true;
            return;
        }
        s->p = p;
        s->cap = nc;
    }
    memcpy(s->p + s->n, src, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void puts_(sbuf *s, const char *str) { put(s, str, strlen(str)); }

/* A JSON string: quotes, backslashes and control characters escaped,
 * UTF-8 passed through. */
static void put_json_string(sbuf *s, const char *str) {
    put(s, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        char e[8];
        if (*p == '"' || *p == '\\') {
            e[0] = '\\';
            e[1] = (char)*p;
            put(s, e, 2);
        } else if (*p < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", *p);
            put(s, e, 6);
        } else {
            put(s, (const char *)p, 1);
        }
    }
    put(s, "\"", 1);
}

static tconv_status build_header(const tconv_safetensors_writer *w, sbuf *s) {
    char num[64];
    puts_(s, "{");
    if (w->meta_count) {
        puts_(s, "\"__metadata__\":{");
        for (int64_t i = 0; i < w->meta_count; i++) {
            if (i) puts_(s, ",");
            put_json_string(s, w->meta[2 * i]);
            puts_(s, ":");
            put_json_string(s, w->meta[2 * i + 1]);
        }
        puts_(s, "}");
    }
    int64_t off = 0;
    for (int64_t i = 0; i < w->count; i++) {
        const wt *t = &w->t[i];
        if (i || w->meta_count) puts_(s, ",");
        put_json_string(s, t->name);
        puts_(s, ":{\"dtype\":\"");
        puts_(s, tconv_dtype_name(t->dtype));
        puts_(s, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            puts_(s, num);
        }
        off += t->nbytes; /* the total was checked not to overflow */
        snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]}", (long long)(off - t->nbytes),
                 (long long)off);
        puts_(s, num);
    }
    puts_(s, "}");
    while (!s->oom && s->n % 8) puts_(s, " ");
    if (s->oom) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    return TCONV_OK;
}

tconv_status tconv_safetensors_writer_save(const tconv_safetensors_writer *w, const char *path) {
    tc_clear_error();
    if (!w || !path) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors writer: NULL argument");
    int64_t total = 0;
    for (int64_t i = 0; i < w->count; i++)
        if (tc_add_overflow(total, w->t[i].nbytes, &total))
            return tc_fail(TCONV_ERROR_OVERFLOW, "safetensors writer: the data size overflows int64");
    sbuf s = {0};
    tconv_status st = build_header(w, &s);
    if (st) {
        free(s.p);
        return st;
    }
    /* temporary file beside the target, renamed over it when complete */
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        free(s.p);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    }
    /* a new name (O_EXCL), created with mode 0666 less the umask as any
     * file the process writes (mkstemp's 0600 would make the saved file
     * private to its owner) */
    static atomic_uint counter;
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        const unsigned k = atomic_fetch_add(&counter, 1u);
        snprintf(tmp, plen + 32, "%s.tmp-%ld-%u", path, (long)getpid(), k);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    bool ok = f != NULL;
    if (!f && fd >= 0) close(fd);
    if (ok) {
        unsigned char len[8];
        for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)s.n >> (8 * i));
        ok = fwrite(len, 1, 8, f) == 8 && fwrite(s.p, 1, s.n, f) == s.n;
        for (int64_t i = 0; ok && i < w->count; i++)
            ok = fwrite(w->t[i].data, 1, (size_t)w->t[i].nbytes, f) == (size_t)w->t[i].nbytes;
        ok = (fflush(f) == 0) && ok;
        ok = (fclose(f) == 0) && ok;
        ok = ok && rename(tmp, path) == 0;
    }
    if (!ok) {
        if (fd >= 0) unlink(tmp);
        free(tmp);
        free(s.p);
        return tc_fail(TCONV_ERROR_IO, "safetensors writer: cannot write '%.300s'", path);
    }
    free(tmp);
    free(s.p);
    return TCONV_OK;
}

tconv_status tconv_safetensors_save(const char *path, int64_t count, const char *const *names,
                                    const tconv_dtype *dtypes, const int *ndims,
                                    const int64_t *const *shapes, const void *const *data) {
    tc_clear_error();
    if (!path || count < 0 || (count > 0 && (!names || !dtypes || !ndims || !shapes || !data)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors_save: NULL argument or count < 0");
    tconv_safetensors_writer *w = NULL;
    tconv_status st = tconv_safetensors_writer_create(&w);
    for (int64_t i = 0; !st && i < count; i++)
        st = tconv_safetensors_writer_add(w, names[i], dtypes[i], ndims[i], shapes[i], data[i]);
    if (!st) st = tconv_safetensors_writer_save(w, path);
    tconv_safetensors_writer_destroy(w);
    return st;
}
