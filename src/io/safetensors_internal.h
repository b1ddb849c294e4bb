/* safetensors_internal.h -- the reader's state, shared by the header
 * parser (safetensors_header.c) and the file access and reads
 * (safetensors.c). */
#ifndef TCONV_IO_SAFETENSORS_INTERNAL_H
#define TCONV_IO_SAFETENSORS_INTERNAL_H

#include "../nn/nn_internal.h"

#include <stddef.h>

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* the reference implementation's limit */
#define ST_MAX_DIMS 32

typedef struct st_tensor {
    char *name;
    tconv_dtype dtype;
    int ndim;
    const int64_t *shape; /* ndim entries in the file's dims pool (set after parsing) */
    int64_t shape_at;  /* where they are in the pool while it may still grow */
    int64_t numel, nbytes;
    int64_t begin, end; /* relative to the data start */
} st_tensor;

struct tconv_safetensors {
    unsigned char *buf; /* the whole file */
    size_t size;
    size_t data_start;  /* 8 + header length */
    st_tensor *t;       /* header order */
    int64_t count, cap;
    st_tensor **by_name; /* pointers into t sorted by name, for lookup */
    char **meta;        /* key, value, key, value, ... */
    int64_t meta_count, meta_cap;
    char ***meta_by_key; /* pointers to the keys in meta, sorted, for lookup */
    int64_t *dims;       /* every tensor's shape, one after another */
    int64_t dims_count, dims_cap;
};

typedef struct st_dtype {
    const char *name;
    int size;
} st_dtype;
extern const st_dtype tc_st_dtypes[];
#define ST_NDTYPES ((int)TCONV_DTYPE_F8_E5M2 + 1)

/* s with control characters, backslashes and bytes that are not UTF-8 as
 * \xNN escapes (for messages); buf holds ST_ESC_CAP bytes. */
#define ST_ESC_CAP 840
const char *tc_st_esc(char buf[ST_ESC_CAP], const char *s);

/* Parses the JSON header of f (hl bytes at f->buf + 8) into f and checks
 * every entry against the file's size (f->size, f->data_start). */
tconv_status tc_st_parse_header(tconv_safetensors *f, size_t hl);

#endif
