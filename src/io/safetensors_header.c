/* safetensors_header.c -- the safetensors header: a JSON object of tensor
 * name -> {"dtype", "shape", "data_offsets"} plus an optional
 * "__metadata__" object of string -> string.  The parser knows exactly
 * this nesting (no general JSON DOM, no recursion); the checks that follow
 * are linear or n log n (duplicates found by sorting), so a hostile header
 * costs time in proportion to its size.  Strings must be UTF-8; names in
 * messages are escaped. */
#include "safetensors_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 and names in messages ----------------------------------------- */

/* The length (1..4) of the well-formed UTF-8 sequence at p (n bytes
 * available) and its code point, or 0 if it is not one (overlong forms,
 * surrogates and values above U+10FFFF are not UTF-8). */
static size_t utf8_seq(const unsigned char *p, size_t n, unsigned *cp) {
    if (n == 0) return 0;
    const unsigned c = p[0];
    size_t len;
    unsigned v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* s as a message may show it: printable ASCII and UTF-8 characters from
 * U+00A0 up as they are; control characters (C0, DEL, C1), backslashes and
 * bytes that are not UTF-8 as \xNN escapes, so that a name from a file
 * cannot drive the terminal that shows the message.  At most about 200
 * characters of s; longer names end in "...". */
const char *tc_st_esc(char buf[ST_ESC_CAP], const char *s) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, k = 0;
    while (i < n && k + 8 < ST_ESC_CAP && i < 200) {
        unsigned cp;
        size_t len = utf8_seq(p + i, n - i, &cp);
        if (len > 1 && cp >= 0xA0) {
            memcpy(buf + k, p + i, len);
            k += len, i += len;
        } else if (len == 1 && cp >= 0x20 && cp < 0x7F && cp != '\\') {
            buf[k++] = (char)cp, i++;
        } else { /* one byte escaped; the rest of a C1 sequence follows as \xNN too */
            buf[k++] = '\\', buf[k++] = 'x';
            buf[k++] = hex[p[i] >> 4], buf[k++] = hex[p[i] & 15];
            i++;
        }
    }
    if (i < n) buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
    buf[k] = '\0';
    return buf;
}

/* ---- the JSON header parser ---------------------------------------------- */

typedef struct jp {
    const char *s;  /* header start */
    size_t n, i;    /* length, position */
} jp;

static tconv_status jfail(const jp *j, const char *what) {
    return tc_fail(TCONV_ERROR_FORMAT, "safetensors: malformed header JSON at byte %zu of %zu: %s",
                   j->i, j->n, what);
}

static void jws(jp *j) {
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
                           j->s[j->i] == '\r'))
        j->i++;
}

static bool jpeek(jp *j, char c) {
    jws(j);
    return j->i < j->n && j->s[j->i] == c;
}

static tconv_status jexpect(jp *j, char c) {
    char msg[32];
    if (!jpeek(j, c)) {
        snprintf(msg, sizeof msg, "expected '%c'", c);
        return jfail(j, msg);
    }
    j->i++;
    return TCONV_OK;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(jp *j, unsigned *out) {
    if (j->n - j->i < 4) return false;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(j->s[j->i + k]);
        if (h < 0) return false;
        v = v * 16 + (unsigned)h;
    }
    j->i += 4;
    *out = v;
    return true;
}

/* A JSON string -> a new NUL-terminated UTF-8 string (no embedded NUL). */
static tconv_status jstring(jp *j, char **out) {
    *out = NULL;
    if (!jpeek(j, '"')) return jfail(j, "expected a string");
    j->i++;
    /* The decoded string is never longer than the encoded one. */
    size_t start = j->i, cap = 1;
    while (j->i < j->n && j->s[j->i] != '"') j->i += (j->s[j->i] == '\\') ? 2 : 1;
    if (j->i >= j->n) {
        j->i = start;
        return jfail(j, "unterminated string");
    }
    cap += j->i - start;
    j->i = start;
    char *r = malloc(cap);
    if (!r) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors: out of memory");
    size_t k = 0;
    for (;;) {
        unsigned char c = (unsigned char)j->s[j->i];
        if (c == '"') {
            j->i++;
            break;
        }
        if (c < 0x20) {
            free(r);
            return jfail(j, "control character in string");
        }
        if (c >= 0x80) { /* the format's header is UTF-8 */
            unsigned cp;
            size_t len = utf8_seq((const unsigned char *)j->s + j->i, j->n - j->i, &cp);
            if (len == 0) {
                free(r);
                return jfail(j, "string is not valid UTF-8 (the format requires UTF-8 names "
                                "and metadata)");
            }
            memcpy(r + k, j->s + j->i, len);
            k += len, j->i += len;
            continue;
        }
        if (c != '\\') {
            r[k++] = (char)c;
            j->i++;
            continue;
        }
        j->i++; /* backslash; the scan above guarantees one more byte */
        char e = j->s[j->i++];
        unsigned cp;
        switch (e) {
        case '"': r[k++] = '"'; continue;
        case '\\': r[k++] = '\\'; continue;
        case '/': r[k++] = '/'; continue;
        case 'b': r[k++] = '\b'; continue;
        case 'f': r[k++] = '\f'; continue;
        case 'n': r[k++] = '\n'; continue;
        case 'r': r[k++] = '\r'; continue;
        case 't': r[k++] = '\t'; continue;
        case 'u':
            if (!read_hex4(j, &cp)) {
                free(r);
                return jfail(j, "bad \\u escape");
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* surrogate pair */
                unsigned lo;
                if (j->n - j->i < 6 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u' ||
                    (j->i += 2, !read_hex4(j, &lo)) || lo < 0xDC00 || lo > 0xDFFF) {
                    free(r);
                    return jfail(j, "unpaired surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(r);
                return jfail(j, "unpaired surrogate in \\u escape");
            }
            if (cp == 0) {
                free(r);
                return jfail(j, "\\u0000 in a string");
            }
            /* UTF-8 of cp takes at most as many bytes as its escape (6 or 12). */
            if (cp < 0x80) {
                r[k++] = (char)cp;
            } else if (cp < 0x800) {
                r[k++] = (char)(0xC0 | (cp >> 6));
                r[k++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                r[k++] = (char)(0xE0 | (cp >> 12));
                r[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                r[k++] = (char)(0x80 | (cp & 0x3F));
            } else {
                r[k++] = (char)(0xF0 | (cp >> 18));
                r[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                r[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                r[k++] = (char)(0x80 | (cp & 0x3F));
            }
            continue;
        default:
            j->i--;
            free(r);
            return jfail(j, "bad escape in string");
        }
    }
    r[k] = '\0';
    *out = r;
    return TCONV_OK;
}

/* A non-negative JSON integer (no sign, fraction or exponent) that fits int64. */
static tconv_status juint(jp *j, int64_t *out) {
    jws(j);
    size_t start = j->i;
    int64_t v = 0;
    while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {
        if (tc_mul_overflow(v, 10, &v) || tc_add_overflow(v, j->s[j->i] - '0', &v)) {
            j->i = start;
            return jfail(j, "integer does not fit in int64");
        }
        j->i++;
    }
    if (j->i == start) return jfail(j, "expected a non-negative integer");
    if (j->s[start] == '0' && j->i - start > 1) {
        j->i = start;
        return jfail(j, "integer with a leading zero");
    }
    if (j->i < j->n && (j->s[j->i] == '.' || j->s[j->i] == 'e' || j->s[j->i] == 'E'))
        return jfail(j, "expected an integer, found a fraction or exponent");
    *out = v;
    return TCONV_OK;
}

/* [int, int, ...] with at most max entries. */
static tconv_status juint_array(jp *j, int64_t *vals, int max, int *count, const char *what) {
    tconv_status st = jexpect(j, '[');
    if (st) return st;
    int n = 0;
    if (jpeek(j, ']')) {
        j->i++;
        *count = 0;
        return TCONV_OK;
    }
    for (;;) {
        if (n == max) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s has more than %d entries", what, max);
            return jfail(j, msg);
        }
        if ((st = juint(j, &vals[n++]))) return st;
        if (jpeek(j, ',')) {
            j->i++;
            continue;
        }
        if ((st = jexpect(j, ']'))) return st;
        break;
    }
    *count = n;
    return TCONV_OK;
}

static tconv_status parse_dtype(jp *j, tconv_dtype *out) {
    size_t at = j->i;
    char *s, e[ST_ESC_CAP];
    tconv_status st = jstring(j, &s);
    if (st) return st;
    for (int d = 0; d < ST_NDTYPES; d++) {
        if (strcmp(s, tc_st_dtypes[d].name) == 0) {
            free(s);
            *out = (tconv_dtype)d;
            return TCONV_OK;
        }
    }
    j->i = at;
    st = tc_fail(TCONV_ERROR_FORMAT,
                 "safetensors: unknown dtype \"%.60s\" at header byte %zu (known: BOOL, U8, I8, "
                 "I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2)",
                 tc_st_esc(e, s), at);
    free(s);
    return st;
}

/* Appends a shape to the file's dims pool; t->shape_at says where. */
static tconv_status push_dims(tconv_safetensors *f, st_tensor *t, const int64_t *d, int n) {
    if (f->dims_count + n > f->dims_cap) {
        int64_t nc = f->dims_cap ? f->dims_cap * 2 : 64;
        while (nc < f->dims_count + n) nc *= 2;
        int64_t *m = realloc(f->dims, (size_t)nc * sizeof *m);
        if (!m) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors: out of memory");
        f->dims = m, f->dims_cap = nc;
    }
    t->shape_at = f->dims_count;
    if (n) memcpy(f->dims + f->dims_count, d, (size_t)n * sizeof *d);
    f->dims_count += n;
    return TCONV_OK;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} in any order,
 * each exactly once, nothing else. */
static tconv_status parse_tensor(jp *j, tconv_safetensors *f, st_tensor *t) {
    tconv_status st = jexpect(j, '{');
    if (st) return st;
    bool have_dtype = false, have_shape = false, have_off = false;
    if (jpeek(j, '}')) return jfail(j, "tensor entry is empty (needs dtype, shape, data_offsets)");
    for (;;) {
        char *key;
        if ((st = jstring(j, &key))) return st;
        if ((st = jexpect(j, ':'))) {
            free(key);
            return st;
        }
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            have_dtype = true;
            st = parse_dtype(j, &t->dtype);
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            have_shape = true;
            int64_t d[ST_MAX_DIMS];
            st = juint_array(j, d, ST_MAX_DIMS, &t->ndim, "shape");
            if (!st) st = push_dims(f, t, d, t->ndim);
        } else if (strcmp(key, "data_offsets") == 0 && !have_off) {
            have_off = true;
            int64_t v[2];
            int n = 0;
            st = juint_array(j, v, 2, &n, "data_offsets");
            if (!st && n != 2) st = jfail(j, "data_offsets must be [begin, end]");
            if (!st) t->begin = v[0], t->end = v[1];
        } else if (strcmp(key, "dtype") == 0 || strcmp(key, "shape") == 0 ||
                   strcmp(key, "data_offsets") == 0) {
            st = jfail(j, "duplicate key in tensor entry");
        } else {
            st = jfail(j, "unknown key in tensor entry (expected dtype, shape, data_offsets)");
        }
        free(key);
        if (st) return st;
        if (jpeek(j, ',')) {
            j->i++;
            continue;
        }
        if ((st = jexpect(j, '}'))) return st;
        break;
    }
    if (!have_dtype || !have_shape || !have_off)
        return jfail(j, "tensor entry lacks dtype, shape or data_offsets");
    return TCONV_OK;
}

static tconv_status push_meta(tconv_safetensors *f, char *k, char *v) {
    if (f->meta_count + 2 > f->meta_cap) {
        int64_t nc = f->meta_cap ? f->meta_cap * 2 : 16;
        char **m = realloc(f->meta, (size_t)nc * sizeof *m);
        if (!m) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors: out of memory");
        f->meta = m, f->meta_cap = nc;
    }
    f->meta[f->meta_count++] = k;
    f->meta[f->meta_count++] = v;
    return TCONV_OK;
}

static tconv_status parse_metadata(jp *j, tconv_safetensors *f) {
    jws(j);
    if (j->n - j->i >= 4 && memcmp(j->s + j->i, "null", 4) == 0) {
        j->i += 4;
        return TCONV_OK;
    }
    tconv_status st = jexpect(j, '{');
    if (st) return st;
    if (jpeek(j, '}')) {
        j->i++;
        return TCONV_OK;
    }
    for (;;) {
        char *k = NULL, *v = NULL;
        if ((st = jstring(j, &k))) return st; /* duplicates: found after parsing, by sorting */
        if ((st = jexpect(j, ':')) || (st = (jpeek(j, '"') ? jstring(j, &v)
                                                          : jfail(j, "__metadata__ values must be strings"))) ||
            (st = push_meta(f, k, v))) {
            free(k);
            free(v);
            return st;
        }
        if (jpeek(j, ',')) {
            j->i++;
            continue;
        }
        return jexpect(j, '}');
    }
}

static tconv_status parse_header(jp *j, tconv_safetensors *f) {
    tconv_status st = jexpect(j, '{');
    if (st) return st;
    bool have_meta = false;
    if (jpeek(j, '}')) {
        j->i++;
    } else {
        for (;;) {
            char *name;
            if ((st = jstring(j, &name))) return st;
            if ((st = jexpect(j, ':'))) {
                free(name);
                return st;
            }
            if (strcmp(name, "__metadata__") == 0) {
                free(name);
                if (have_meta) return jfail(j, "duplicate __metadata__");
                have_meta = true;
                if ((st = parse_metadata(j, f))) return st;
            } else {
                if (f->count == f->cap) {
                    int64_t nc = f->cap ? f->cap * 2 : 16;
                    st_tensor *t = realloc(f->t, (size_t)nc * sizeof *t);
                    if (!t) {
                        free(name);
                        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors: out of memory");
                    }
                    f->t = t, f->cap = nc;
                }
                st_tensor *t = &f->t[f->count++];
                memset(t, 0, sizeof *t);
                t->name = name;
                if ((st = parse_tensor(j, f, t))) return st;
            }
            if (jpeek(j, ',')) {
                j->i++;
                continue;
            }
            if ((st = jexpect(j, '}'))) return st;
            break;
        }
    }
    jws(j);
    if (j->i != j->n) return jfail(j, "unexpected bytes after the header object");
    return TCONV_OK;
}

/* ---- validation ------------------------------------------------------- */

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(st_tensor *const *)a)->name, (*(st_tensor *const *)b)->name);
}

static int cmp_meta_key(const void *a, const void *b) {
    return strcmp(**(char **const *)a, **(char **const *)b);
}

/* The metadata keys sorted (for lookup), and no key twice. */
static tconv_status index_metadata(tconv_safetensors *f) {
    const int64_t n = f->meta_count / 2;
    if (n == 0) return TCONV_OK;
    f->meta_by_key = malloc((size_t)n * sizeof *f->meta_by_key);
    if (!f->meta_by_key) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors: out of memory");
    for (int64_t i = 0; i < n; i++) f->meta_by_key[i] = &f->meta[2 * i];
    qsort(f->meta_by_key, (size_t)n, sizeof *f->meta_by_key, cmp_meta_key);
    char e[ST_ESC_CAP];
    for (int64_t i = 1; i < n; i++)
        if (strcmp(*f->meta_by_key[i - 1], *f->meta_by_key[i]) == 0)
            return tc_fail(TCONV_ERROR_FORMAT,
                           "safetensors: malformed header JSON: duplicate key in __metadata__: '%s'",
                           tc_st_esc(e, *f->meta_by_key[i]));
    return TCONV_OK;
}

static int cmp_offset(const void *a, const void *b) {
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static tconv_status validate(tconv_safetensors *f) {
    static const int64_t no_dims[1] = {0};
    char b1[200], e[ST_ESC_CAP];
    int64_t data_len = (int64_t)(f->size - f->data_start);
    for (int64_t i = 0; i < f->count; i++) /* the pool is complete: point into it */
        f->t[i].shape = f->dims ? f->dims + f->t[i].shape_at : no_dims;
    for (int64_t i = 0; i < f->count; i++) {
        st_tensor *t = &f->t[i];
        if (!tc_numel(t->shape, t->ndim, &t->numel) ||
            tc_mul_overflow(t->numel, tc_st_dtypes[t->dtype].size, &t->nbytes))
            return tc_fail(TCONV_ERROR_FORMAT,
                           "safetensors: tensor '%s': shape %s times %s's %d bytes overflows int64",
                           tc_st_esc(e, t->name), tc_fmt_dims(b1, sizeof b1, t->shape, t->ndim),
                           tc_st_dtypes[t->dtype].name, tc_st_dtypes[t->dtype].size);
        if (t->begin > t->end)
            return tc_fail(TCONV_ERROR_FORMAT,
                           "safetensors: tensor '%s': data_offsets [%lld, %lld] end before they begin",
                           tc_st_esc(e, t->name), (long long)t->begin, (long long)t->end);
        if (t->end - t->begin != t->nbytes)
            return tc_fail(TCONV_ERROR_FORMAT,
                           "safetensors: tensor '%s': data_offsets [%lld, %lld] span %lld bytes but "
                           "%s shape %s needs %lld",
                           tc_st_esc(e, t->name), (long long)t->begin, (long long)t->end,
                           (long long)(t->end - t->begin), tc_st_dtypes[t->dtype].name,
                           tc_fmt_dims(b1, sizeof b1, t->shape, t->ndim), (long long)t->nbytes);
        if (t->end > data_len)
            return tc_fail(TCONV_ERROR_FORMAT,
                           "safetensors: tensor '%s': data_offsets [%lld, %lld] go beyond the %lld "
                           "bytes of data (truncated file?)",
                           tc_st_esc(e, t->name), (long long)t->begin, (long long)t->end,
                           (long long)data_len);
    }
    size_t ibytes = (size_t)(f->count ? f->count : 1) * sizeof(st_tensor *);
    st_tensor **order = malloc(ibytes);
    f->by_name = malloc(ibytes);
    if (!order || !f->by_name) {
        free(order);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "safetensors: out of memory");
    }
    for (int64_t i = 0; i < f->count; i++) order[i] = f->by_name[i] = &f->t[i];
    qsort(f->by_name, (size_t)f->count, sizeof(st_tensor *), cmp_name);
    qsort(order, (size_t)f->count, sizeof(st_tensor *), cmp_offset);
    tconv_status st = TCONV_OK;
    for (int64_t i = 1; i < f->count && !st; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            st = tc_fail(TCONV_ERROR_FORMAT, "safetensors: tensor name '%s' appears twice",
                         tc_st_esc(e, f->by_name[i]->name));
    /* The tensors must tile the data: sorted by offset, each begins where
     * the previous ended, and the last ends at the end of the file. */
    int64_t at = 0;
    for (int64_t i = 0; i < f->count && !st; i++) {
        const st_tensor *t = order[i];
        if (t->begin != at)
            st = tc_fail(TCONV_ERROR_FORMAT,
                         "safetensors: tensor '%s': data_offsets [%lld, %lld] %s (expected it "
                         "to begin at %lld)",
                         tc_st_esc(e, t->name), (long long)t->begin, (long long)t->end,
                         t->begin < at ? "overlap another tensor" : "leave a gap", (long long)at);
        at = t->end;
    }
    if (!st && at != data_len)
        st = tc_fail(TCONV_ERROR_FORMAT,
                     "safetensors: the tensors cover %lld bytes of data but the file has %lld after "
                     "the header", (long long)at, (long long)data_len);
    free(order);
    if (!st) st = index_metadata(f);
    return st;
}

tconv_status tc_st_parse_header(tconv_safetensors *f, size_t hl) {
    jp j = {(const char *)f->buf + 8, hl, 0};
    tconv_status st = parse_header(&j, f);
    if (!st) st = validate(f);
    return st;
}
