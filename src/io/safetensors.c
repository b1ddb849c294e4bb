/* safetensors.c -- a strict reader for the safetensors format.
 *
 * Layout: u64 little-endian N | N bytes of JSON header | data.  The header
 * is parsed and checked by safetensors_header.c; every entry is validated
 * before the caller sees any of it, so lookups and reads never touch
 * unchecked bytes.
 *
 * Hostile files cost time and memory in proportion to their size: every
 * header check is linear or n log n (duplicates are found by sorting), a
 * file is read only when it is a regular file, its header first, and its
 * data only after the header's tensors have been checked against the
 * file's size.  Strings must be UTF-8; names shown in messages are escaped.
 */
#include "safetensors_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const st_dtype tc_st_dtypes[] = {
    [TCONV_DTYPE_BOOL] = {"BOOL", 1},     [TCONV_DTYPE_U8] = {"U8", 1},
    [TCONV_DTYPE_I8] = {"I8", 1},         [TCONV_DTYPE_I16] = {"I16", 2},
    [TCONV_DTYPE_U16] = {"U16", 2},       [TCONV_DTYPE_F16] = {"F16", 2},
    [TCONV_DTYPE_BF16] = {"BF16", 2},     [TCONV_DTYPE_I32] = {"I32", 4},
    [TCONV_DTYPE_U32] = {"U32", 4},       [TCONV_DTYPE_F32] = {"F32", 4},
    [TCONV_DTYPE_F64] = {"F64", 8},       [TCONV_DTYPE_I64] = {"I64", 8},
    [TCONV_DTYPE_U64] = {"U64", 8},       [TCONV_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [TCONV_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
};

const char *tconv_dtype_name(tconv_dtype dtype) {
    return (int)dtype >= 0 && (int)dtype < ST_NDTYPES ? tc_st_dtypes[dtype].name : "?";
}

/* The header length of a file of `size` bytes whose first 8 bytes are at
 * buf (size >= 8), checked against the limit and the file's size. */
static tconv_status header_length(const unsigned char *buf, size_t size, const char *origin,
                                  size_t *out) {
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = (hl << 8) | buf[k];
    if (hl > ST_MAX_HEADER || hl > size - 8)
        return tc_fail(TCONV_ERROR_FORMAT,
                       "safetensors: %s: header length %llu %s (file is %zu bytes)", origin,
                       (unsigned long long)hl,
                       hl > ST_MAX_HEADER ? "exceeds the 100000000-byte limit"
                                          : "runs past the end of the file (truncated?)",
                       size);
    *out = (size_t)hl;
    return TCONV_OK;
}

/* Parses and checks the header of a file of `size` bytes against that
 * size.  Takes ownership of buf (from malloc), which holds at least the
 * 8 + hl bytes of length and header: the data may be read into it later. */
static tconv_status open_header(unsigned char *buf, size_t size, size_t hl,
                                tconv_safetensors **out) {
    tconv_safetensors *f = calloc(1, sizeof *f);
    if (!f) {
        free(buf);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors: out of memory");
    }
    f->buf = buf;
    f->size = size;
    f->data_start = 8 + hl;
    tconv_status st = tc_st_parse_header(f, hl);
    if (st) {
        tconv_safetensors_close(f);
        return st;
    }
    *out = f;
    return TCONV_OK;
}

/* Takes ownership of buf (size bytes, from malloc): a whole file. */
static tconv_status open_buffer(unsigned char *buf, size_t size, const char *origin,
                                tconv_safetensors **out) {
    if (size < 8) {
        free(buf);
        return tc_fail(TCONV_ERROR_FORMAT,
                       "safetensors: %s is %zu bytes, too short for the 8-byte header length",
                       origin, size);
    }
    size_t hl = 0;
    tconv_status st = header_length(buf, size, origin, &hl);
    if (st) {
        free(buf);
        return st;
    }
    return open_header(buf, size, hl, out);
}

/* Reads n bytes at offset `at` of fd; *got receives how many there were
 * (fewer at the end of the file).  Returns 0 or an errno. */
static int read_at(int fd, unsigned char *p, size_t n, off_t at, size_t *got) {
    size_t done = 0;
    while (done < n) {
        size_t want = n - done > ((size_t)1 << 30) ? ((size_t)1 << 30) : n - done;
        ssize_t r = pread(fd, p + done, want, at + (off_t)done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno ? errno : EIO;
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static const char *file_kind(mode_t m) {
    return S_ISDIR(m)    ? "a directory"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISFIFO(m) ? "a pipe"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

tconv_status tconv_safetensors_open(const char *path, tconv_safetensors **st) {
    tc_clear_error();
    if (!path || !st) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors: NULL argument");
    char e[ST_ESC_CAP], origin[ST_ESC_CAP + 2];
    snprintf(origin, sizeof origin, "'%s'", tc_st_esc(e, path));
    /* O_NONBLOCK: opening a pipe must not wait for a writer (it is refused
     * below); it changes nothing for regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return tc_fail(TCONV_ERROR_IO, "safetensors: cannot open %s: %s", origin, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return tc_fail(TCONV_ERROR_IO, "safetensors: cannot stat %s: %s", origin, strerror(err));
    }
    /* Only a regular file has a size to check the header against (a device
     * such as /dev/zero or a pipe would be read without end). */
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return tc_fail(TCONV_ERROR_IO, "safetensors: %s is %s, not a regular file", origin,
                       file_kind(sb.st_mode));
    }
    if (sb.st_size < 8) {
        close(fd);
        return tc_fail(TCONV_ERROR_FORMAT,
                       "safetensors: %s is %lld bytes, too short for the 8-byte header length",
                       origin, (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > (uint64_t)(SIZE_MAX / 2)) {
        close(fd);
        return tc_fail(TCONV_ERROR_IO, "safetensors: %s (%lld bytes) is too large to read",
                       origin, (long long)sb.st_size);
    }
    const size_t size = (size_t)sb.st_size;
    unsigned char len8[8];
    size_t got = 0, hl = 0;
    int err = read_at(fd, len8, 8, 0, &got);
    tconv_status s = TCONV_OK;
    if (err || got < 8)
        s = tc_fail(TCONV_ERROR_IO, "safetensors: cannot read %s: %s", origin,
                    err ? strerror(err) : "it ended before its size (changed while reading?)");
    if (!s) s = header_length(len8, size, origin, &hl);
    if (s) {
        close(fd);
        return s;
    }
    /* The header first (at most the limit and the file's size), checked
     * against the file's size before the data is read. */
    unsigned char *buf = malloc(8 + hl);
    if (!buf) {
        close(fd);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors: out of memory reading %s", origin);
    }
    memcpy(buf, len8, 8);
    err = read_at(fd, buf + 8, hl, 8, &got);
    if (err || got < hl) {
        free(buf);
        close(fd);
        return tc_fail(TCONV_ERROR_IO, "safetensors: cannot read %s: %s", origin,
                       err ? strerror(err) : "it ended before its size (changed while reading?)");
    }
    tconv_safetensors *f = NULL;
    if ((s = open_header(buf, size, hl, &f))) {
        close(fd);
        return s;
    }
    /* The data: exactly what the header's tensors cover. */
    if (size > 8 + hl) {
        unsigned char *nb = realloc(f->buf, size);
        if (!nb) {
            tconv_safetensors_close(f);
            close(fd);
            return tc_fail(TCONV_ERROR_OUT_OF_MEMORY,
                           "safetensors: out of memory for the %zu data bytes of %s",
                           size - 8 - hl, origin);
        }
        f->buf = nb;
        err = read_at(fd, nb + 8 + hl, size - 8 - hl, (off_t)(8 + hl), &got);
        if (err || got < size - 8 - hl) {
            tconv_safetensors_close(f);
            close(fd);
            return tc_fail(TCONV_ERROR_IO, "safetensors: cannot read %s: %s", origin,
                           err ? strerror(err)
                               : "it ended before its size (changed while reading?)");
        }
    }
    close(fd);
    *st = f;
    return TCONV_OK;
}

tconv_status tconv_safetensors_open_memory(const void *data, size_t size, tconv_safetensors **st) {
    tc_clear_error();
    if ((!data && size) || !st) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors: NULL argument");
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors: out of memory");
    if (size) memcpy(buf, data, size);
    return open_buffer(buf, size, "buffer", st);
}

void tconv_safetensors_close(tconv_safetensors *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->count; i++) free(f->t[i].name);
    for (int64_t i = 0; i < f->meta_count; i++) free(f->meta[i]);
    free(f->t);
    free(f->meta);
    free(f->by_name);
    free(f->meta_by_key);
    free(f->dims);
    free(f->buf);
    free(f);
}

/* ---- lookups and reads ------------------------------------------------ */

int64_t tconv_safetensors_count(const tconv_safetensors *f) { return f ? f->count : 0; }

static void fill_info(const st_tensor *t, tconv_tensor_info *info) {
    info->name = t->name;
    info->dtype = t->dtype;
    info->ndim = t->ndim;
    info->shape = t->shape;
    info->numel = t->numel;
    info->nbytes = t->nbytes;
}

tconv_status tconv_safetensors_info(const tconv_safetensors *f, int64_t index,
                                    tconv_tensor_info *info) {
    tc_clear_error();
    if (!f || !info) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors: NULL argument");
    if (index < 0 || index >= f->count)
        return tc_fail(TCONV_ERROR_NOT_FOUND, "safetensors: index %lld out of range [0, %lld)",
                       (long long)index, (long long)f->count);
    fill_info(&f->t[index], info);
    return TCONV_OK;
}

static const st_tensor *lookup(const tconv_safetensors *f, const char *name) {
    int64_t lo = 0, hi = f->count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

tconv_status tconv_safetensors_find(const tconv_safetensors *f, const char *name,
                                    tconv_tensor_info *info) {
    tc_clear_error();
    if (!f || !name) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors: NULL argument");
    const st_tensor *t = lookup(f, name);
    char e[ST_ESC_CAP];
    if (!t)
        return tc_fail(TCONV_ERROR_NOT_FOUND, "safetensors: no tensor named '%s' in the file (%lld tensors)",
                       tc_st_esc(e, name), (long long)f->count);
    if (info) fill_info(t, info);
    return TCONV_OK;
}

const char *tconv_safetensors_metadata(const tconv_safetensors *f, const char *key) {
    if (!f || !key) return NULL;
    int64_t lo = 0, hi = f->meta_count / 2;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(*f->meta_by_key[mid], key);
        if (c == 0) return f->meta_by_key[mid][1];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Raw little-endian bytes -> host values of `size` bytes each. */
static void copy_le(void *dst, const unsigned char *src, int64_t n, int size) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, (size_t)(n * size));
#else
    unsigned char *d = dst;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < size; k++) d[i * size + k] = src[i * size + (size - 1 - k)];
#endif
}

/* The checks of the typed reads: exists, has dtype, has the expected shape,
 * fits in dst_bytes.  want_f32 words the F32 refusal for model weights. */
static tconv_status read_checked(const tconv_safetensors *f, const char *name, tconv_dtype dtype,
                                 int ndim, const int64_t *expected_shape, void *dst,
                                 int64_t dst_elems, int want_f32, const st_tensor **out) {
    tconv_status st = tconv_safetensors_find(f, name, NULL);
    if (st) return st;
    const st_tensor *t = lookup(f, name);
    char b1[300], b2[300], e[ST_ESC_CAP];
    if ((int)dtype < 0 || (int)dtype >= ST_NDTYPES)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors: dtype %d is not a tconv_dtype",
                       (int)dtype);
    if (t->dtype != dtype) {
        if (want_f32)
            return tc_fail(TCONV_ERROR_FORMAT,
                           "safetensors: tensor '%s' has dtype %s, expected F32 (save the model in "
                           "float32, e.g. model.float())",
                           tc_st_esc(e, name), tc_st_dtypes[t->dtype].name);
        return tc_fail(TCONV_ERROR_FORMAT, "safetensors: tensor '%s' has dtype %s, expected %s",
                       tc_st_esc(e, name), tc_st_dtypes[t->dtype].name, tc_st_dtypes[dtype].name);
    }
    if (ndim < 0 || (ndim > 0 && !expected_shape))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors: bad expected shape for '%s'",
                      tc_st_esc(e, name));
    bool same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++) same = expected_shape[i] == t->shape[i];
    if (!same)
        return tc_fail(TCONV_ERROR_FORMAT,
                       "safetensors: size mismatch for %s: the file has shape %s, the layer "
                       "expects %s",
                       tc_st_esc(e, name), tc_fmt_dims(b1, sizeof b1, t->shape, t->ndim),
                       tc_fmt_dims(b2, sizeof b2, expected_shape, ndim < 64 ? ndim : 64));
    if (dst_elems < t->numel || (t->numel > 0 && !dst))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "safetensors: destination for '%s' holds %lld values but needs %lld",
                       tc_st_esc(e, name), (long long)dst_elems, (long long)t->numel);
    *out = t;
    return TCONV_OK;
}

tconv_status tconv_safetensors_read_f32(const tconv_safetensors *f, const char *name, int ndim,
                                        const int64_t *expected_shape, float *dst,
                                        int64_t dst_capacity) {
    const st_tensor *t;
    tconv_status st = read_checked(f, name, TCONV_DTYPE_F32, ndim, expected_shape, dst,
                                   dst_capacity, 1, &t);
    if (st) return st;
    copy_le(dst, f->buf + f->data_start + t->begin, t->numel, 4);
    return TCONV_OK;
}

tconv_status tconv_safetensors_read(const tconv_safetensors *f, const char *name,
                                    tconv_dtype dtype, int ndim, const int64_t *expected_shape,
                                    void *dst, size_t dst_bytes) {
    tc_clear_error();
    if (!f || !name) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "safetensors: NULL argument");
    const int size = (int)dtype >= 0 && (int)dtype < ST_NDTYPES ? tc_st_dtypes[dtype].size : 1;
    const st_tensor *t;
    tconv_status st = read_checked(f, name, dtype, ndim, expected_shape, dst,
                                   dst_bytes / (size_t)size > (size_t)INT64_MAX
                                       ? INT64_MAX
                                       : (int64_t)(dst_bytes / (size_t)size),
                                   0, &t);
    if (st) return st;
    copy_le(dst, f->buf + f->data_start + t->begin, t->numel, size);
    return TCONV_OK;
}

tconv_status tc_st_read_i64_scalar(const tconv_safetensors *f, const char *name, int64_t *out);
tconv_status tc_st_read_i64_scalar(const tconv_safetensors *f, const char *name, int64_t *out) {
    tconv_status st = tconv_safetensors_find(f, name, NULL);
    if (st) return st;
    const st_tensor *t = lookup(f, name);
    char e[ST_ESC_CAP];
    if (t->dtype != TCONV_DTYPE_I64 || t->ndim != 0)
        return tc_fail(TCONV_ERROR_FORMAT, "safetensors: '%s' should be an I64 scalar, found %s with %d dims",
                       tc_st_esc(e, name), tc_st_dtypes[t->dtype].name, t->ndim);
    copy_le(out, f->buf + f->data_start + t->begin, 1, 8);
    return TCONV_OK;
}
