/* test_reliability_safetensors.c -- the safetensors reader against inputs
 * built to cost time or memory, or to reach a terminal:
 *  - header checks are linear or n log n: 160k metadata keys, 200k tensors
 *    and a duplicate hidden among them open (or are refused) in well under
 *    a second each, where a quadratic check takes minutes;
 *  - only regular files are read: /dev/zero, a directory and a pipe with
 *    no writer are refused at once (alarm() catches an endless read or a
 *    blocking open);
 *  - a file is read only as far as its size: a header that declares more
 *    than the file holds is refused, a file padded beyond its tensors too;
 *  - strings must be UTF-8 (overlong forms, surrogates, stray continuation
 *    bytes, truncated sequences refused with the byte position); names
 *    shown in messages are escaped (an ESC byte never reaches stderr).
 * Every case runs under a time limit (alarm, and the ctest TIMEOUT). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <tconv.h>

#include "check.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_reliability_safetensors: time limit exceeded\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

/* A growing byte string. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->n + n + 1) nc *= 2;
        b->p = realloc(b->p, nc);
        if (!b->p) abort();
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* u64 LE header length | header | data_len bytes of data. */
static unsigned char *make_file(const char *header, size_t hlen, size_t data_len, size_t *size) {
    *size = 8 + hlen + data_len;
    unsigned char *f = calloc(1, *size);
    if (!f) abort();
    for (int k = 0; k < 8; k++) f[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
    memcpy(f + 8, header, hlen);
    for (size_t i = 0; i < data_len; i++) f[8 + hlen + i] = (unsigned char)(i * 7);
    return f;
}

static tconv_status open_header(const char *header, size_t hlen, size_t data_len,
                                tconv_safetensors **st, double *secs) {
    size_t size;
    unsigned char *f = make_file(header, hlen, data_len, &size);
    *st = NULL;
    const double t0 = now();
    tconv_status s = tconv_safetensors_open_memory(f, size, st);
    *secs = now() - t0;
    free(f);
    return s;
}

/* Seconds a header check of n entries may take; a quadratic one needs
 * minutes for these n, a linear one milliseconds (sanitizers included). */
#define LIMIT_S 3.0

static void test_many_metadata_keys(void) {
    alarm(60);
    const int n = 160000;
    sbuf h = {0};
    char kv[64];
    sb_str(&h, "{\"__metadata__\":{");
    for (int i = 0; i < n; i++) {
        snprintf(kv, sizeof kv, "%s\"k%07d\":\"v%d\"", i ? "," : "", (i * 7919) % n, i);
        sb_str(&h, kv);
    }
    sb_str(&h, "}}");
    tconv_safetensors *st;
    double secs;
    tconv_status s = open_header(h.p, h.n, 0, &st, &secs);
    CHECK_MSG(s == TCONV_OK, "%d metadata keys: %s", n, tconv_last_error());
    CHECK_MSG(secs < LIMIT_S, "%d metadata keys (%zu-byte header) took %.2f s", n, h.n, secs);
    if (s == TCONV_OK) {
        /* every key found, by value; absent keys are absent */
        int ok = 1;
        const double t0 = now();
        for (int i = 0; i < n; i += 997) {
            char key[32], want[32];
            snprintf(key, sizeof key, "k%07d", (i * 7919) % n);
            snprintf(want, sizeof want, "v%d", i);
            const char *v = tconv_safetensors_metadata(st, key);
            ok &= v != NULL && strcmp(v, want) == 0;
        }
        for (int i = 0; i < 2000; i++) ok &= tconv_safetensors_metadata(st, "k9999999") == NULL;
        CHECK(ok);
        CHECK_MSG(now() - t0 < LIMIT_S, "metadata lookups took %.2f s", now() - t0);
        tconv_safetensors_close(st);
    }
    /* the same with one key twice, the copies far apart */
    h.n = 0;
    sb_str(&h, "{\"__metadata__\":{\"k0000000\":\"first\"");
    for (int i = 1; i < n; i++) {
        snprintf(kv, sizeof kv, ",\"k%07d\":\"v\"", i);
        sb_str(&h, kv);
    }
    sb_str(&h, ",\"k0000000\":\"again\"}}");
    s = open_header(h.p, h.n, 0, &st, &secs);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "duplicate key in __metadata__") &&
                  strstr(tconv_last_error(), "k0000000"),
              "duplicate metadata key: status %d, '%s'", (int)s, tconv_last_error());
    CHECK(st == NULL);
    CHECK_MSG(secs < LIMIT_S, "refusing a duplicate among %d keys took %.2f s", n, secs);
    free(h.p);
    alarm(0);
}

static void test_many_tensors(void) {
    alarm(60);
    const int n = 200000;
    sbuf h = {0};
    char e[128];
    sb_str(&h, "{");
    for (int i = 0; i < n; i++) {
        snprintf(e, sizeof e, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[%d,%d]}",
                 i ? "," : "", i, i, i + 1);
        sb_str(&h, e);
    }
    sb_str(&h, "}");
    tconv_safetensors *st;
    double secs;
    tconv_status s = open_header(h.p, h.n, (size_t)n, &st, &secs);
    CHECK_MSG(s == TCONV_OK, "%d tensors: %s", n, tconv_last_error());
    CHECK_MSG(secs < LIMIT_S, "%d tensors (%zu-byte header) took %.2f s", n, h.n, secs);
    if (s == TCONV_OK) {
        CHECK(tconv_safetensors_count(st) == n);
        tconv_tensor_info info;
        CHECK(tconv_safetensors_find(st, "t123456", &info) == TCONV_OK && info.ndim == 0 &&
              info.numel == 1 && info.nbytes == 1);
        CHECK(tconv_safetensors_info(st, n - 1, &info) == TCONV_OK &&
              strcmp(info.name, "t199999") == 0);
        tconv_safetensors_close(st);
    }
    /* a name twice: the last entry repeats the first */
    h.n = h.n - 1;
    snprintf(e, sizeof e, ",\"t0\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[%d,%d]}}", n,
             n + 1);
    sb_str(&h, e);
    s = open_header(h.p, h.n, (size_t)n + 1, &st, &secs);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "'t0' appears twice"),
              "duplicate tensor: %d '%s'", (int)s, tconv_last_error());
    CHECK_MSG(secs < LIMIT_S, "refusing a duplicate among %d tensors took %.2f s", n, secs);
    free(h.p);
    alarm(0);
}

/* Shapes are kept in one pool: the memory of an open file follows the
 * header's size, not 32 dims per tensor.  Many 32-dim tensors must open
 * with their shapes intact. */
static void test_shapes_pool(void) {
    alarm(30);
    const int n = 3000;
    char e[256];
    sbuf g = {0};
    int64_t at = 0;
    sb_str(&g, "{");
    for (int i = 0; i < n; i++) {
        int64_t sz = (int64_t)(i % 3 + 1) * (i % 2 + 1);
        snprintf(e, sizeof e, "%s\"s%d\":{\"dtype\":\"U8\",\"shape\":[%d,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
                              "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,%d],\"data_offsets\":[%lld,%lld]}",
                 i ? "," : "", i, i % 3 + 1, i % 2 + 1, (long long)at, (long long)(at + sz));
        sb_str(&g, e);
        at += sz;
    }
    sb_str(&g, "}");
    tconv_safetensors *st;
    double secs;
    CHECK_MSG(open_header(g.p, g.n, (size_t)at, &st, &secs) == TCONV_OK, "%s", tconv_last_error());
    if (st) {
        int ok = 1;
        for (int i = 0; i < n; i++) {
            tconv_tensor_info info;
            ok &= tconv_safetensors_info(st, i, &info) == TCONV_OK && info.ndim == 32 &&
                  info.shape[0] == i % 3 + 1 && info.shape[31] == i % 2 + 1 &&
                  info.shape[15] == 1 && info.numel == (int64_t)(i % 3 + 1) * (i % 2 + 1);
        }
        CHECK(ok);
        tconv_safetensors_close(st);
    }
    free(g.p);
    alarm(0);
}

static void test_not_regular_files(void) {
    tconv_safetensors *st = NULL;
    alarm(20); /* the old reader read /dev/zero until memory ran out */
    tconv_status s = tconv_safetensors_open("/dev/zero", &st);
    CHECK_MSG(s == TCONV_ERROR_IO && strstr(tconv_last_error(), "not a regular file") &&
                  strstr(tconv_last_error(), "character device"),
              "/dev/zero: %d '%s'", (int)s, tconv_last_error());
    CHECK(st == NULL);
    s = tconv_safetensors_open("/dev/null", &st);
    CHECK_MSG(s == TCONV_ERROR_IO && strstr(tconv_last_error(), "not a regular file"),
              "/dev/null: %d '%s'", (int)s, tconv_last_error());
    s = tconv_safetensors_open("/tmp", &st);
    CHECK_MSG(s == TCONV_ERROR_IO && strstr(tconv_last_error(), "a directory"), "/tmp: %d '%s'",
              (int)s, tconv_last_error());
    /* a pipe with no writer: opening must not wait for one */
    char fifo[] = "/tmp/tconv_fifo_XXXXXX";
    int fd = mkstemp(fifo);
    if (fd >= 0) {
        close(fd);
        unlink(fifo);
        if (mkfifo(fifo, 0600) == 0) {
            s = tconv_safetensors_open(fifo, &st);
            CHECK_MSG(s == TCONV_ERROR_IO && strstr(tconv_last_error(), "a pipe"),
                      "fifo: %d '%s'", (int)s, tconv_last_error());
            unlink(fifo);
        }
    }
    alarm(0);
}

/* Writes bytes to a new temporary file; returns its path (static). */
static const char *temp_file(const unsigned char *p, size_t n) {
    static char path[64];
    strcpy(path, "/tmp/tconv_st_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) abort();
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    close(fd);
    return path;
}

static void test_sizes_against_file(void) {
    alarm(20);
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    size_t size;
    tconv_safetensors *st = NULL;
    /* complete: opens from a file, values intact */
    unsigned char *f = make_file(h, strlen(h), 16, &size);
    const float vals[4] = {1.0f, -2.5f, 3.0f, 0.25f};
    memcpy(f + 8 + strlen(h), vals, 16);
    const char *path = temp_file(f, size);
    CHECK_MSG(tconv_safetensors_open(path, &st) == TCONV_OK, "%s", tconv_last_error());
    if (st) {
        float got[4] = {0};
        const int64_t shape[2] = {2, 2};
        CHECK(tconv_safetensors_read_f32(st, "w", 2, shape, got, 4) == TCONV_OK &&
              memcmp(got, vals, sizeof vals) == 0);
        tconv_safetensors_close(st);
    }
    unlink(path);
    /* the data cut short: the header's tensors are checked against the
     * file's size, before the data is read */
    path = temp_file(f, size - 4);
    tconv_status s = tconv_safetensors_open(path, &st);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "go beyond the 12 bytes"),
              "short data: %d '%s'", (int)s, tconv_last_error());
    unlink(path);
    free(f);
    /* trailing bytes beyond the tensors */
    f = make_file(h, strlen(h), 20, &size);
    path = temp_file(f, size);
    s = tconv_safetensors_open(path, &st);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "cover 16 bytes"),
              "long data: %d '%s'", (int)s, tconv_last_error());
    unlink(path);
    free(f);
    /* a header length of 2^40 in a 16-byte file: refused from the size
     * alone, nothing allocated for it */
    unsigned char small[16] = {0, 0, 0, 0, 0, 1, 0, 0, '{', '}'};
    path = temp_file(small, sizeof small);
    s = tconv_safetensors_open(path, &st);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "header length 1099511627776"),
              "huge header length: %d '%s'", (int)s, tconv_last_error());
    /* a header length just past the file */
    small[5] = 0, small[0] = 9;
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite(small, 1, sizeof small, fp);
        fclose(fp);
    }
    s = tconv_safetensors_open(path, &st);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "runs past the end"),
              "header past the end: %d '%s'", (int)s, tconv_last_error());
    unlink(path);
    /* a tensor declaring 2^62 elements in a small file */
    const char *big = "{\"w\":{\"dtype\":\"U8\",\"shape\":[4611686018427387904],"
                      "\"data_offsets\":[0,4611686018427387904]}}";
    f = make_file(big, strlen(big), 8, &size);
    path = temp_file(f, size);
    s = tconv_safetensors_open(path, &st);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "go beyond"),
              "2^62 bytes declared: %d '%s'", (int)s, tconv_last_error());
    unlink(path);
    free(f);
    alarm(0);
}

static void expect_utf8_refused(const char *header, const char *what) {
    tconv_safetensors *st;
    double secs;
    tconv_status s = open_header(header, strlen(header), 0, &st, &secs);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "not valid UTF-8") &&
                  strstr(tconv_last_error(), "at byte"),
              "%s: status %d, '%s'", what, (int)s, tconv_last_error());
    if (s == TCONV_OK) tconv_safetensors_close(st);
}

#define EMPTY_T(name) "{\"" name "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"

static void test_utf8(void) {
    alarm(20);
    expect_utf8_refused(EMPTY_T("w\xff"), "0xff");
    expect_utf8_refused(EMPTY_T("w\x80"), "a stray continuation byte");
    expect_utf8_refused(EMPTY_T("\xc0\xaf"), "an overlong '/'");
    expect_utf8_refused(EMPTY_T("\xe0\x80\xaf"), "an overlong 3-byte form");
    expect_utf8_refused(EMPTY_T("\xed\xa0\x80"), "a UTF-8-encoded surrogate");
    expect_utf8_refused(EMPTY_T("\xf4\x90\x80\x80"), "above U+10FFFF");
    expect_utf8_refused(EMPTY_T("ab\xe2\x82"), "a truncated sequence");
    expect_utf8_refused("{\"__metadata__\":{\"k\":\"\xfe\"}}", "a metadata value");
    expect_utf8_refused("{\"__metadata__\":{\"\xc3\":\"v\"}}", "a metadata key");
    /* well-formed UTF-8 of every length opens, and is found by its bytes */
    tconv_safetensors *st;
    double secs;
    const char *ok = EMPTY_T("caf\xc3\xa9.\xe2\x82\xac.\xf0\x9f\x98\x80");
    CHECK_MSG(open_header(ok, strlen(ok), 0, &st, &secs) == TCONV_OK, "%s", tconv_last_error());
    if (st) {
        CHECK(tconv_safetensors_find(st, "caf\xc3\xa9.\xe2\x82\xac.\xf0\x9f\x98\x80", NULL) ==
              TCONV_OK);
        tconv_safetensors_close(st);
    }
    alarm(0);
}

static int has_raw_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f) return 1;
    return 0;
}

static void test_names_escaped(void) {
    alarm(20);
    tconv_safetensors *st;
    double secs;
    /* "\u001b[2J" (clear screen) as a name, twice: the message shows it escaped */
    const char *h = "{\"\\u001b[2Jx\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                    "\"\\u001b[2Jx\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}";
    tconv_status s = open_header(h, strlen(h), 0, &st, &secs);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "'\\x1b[2Jx' appears twice") &&
                  !has_raw_control(tconv_last_error()),
              "escaped duplicate: %d '%s'", (int)s, tconv_last_error());
    /* a name with a C1 control (U+009B, CSI) and a newline; opened, then a
     * failing read names it escaped */
    h = "{\"a\\u009b\\nb\":{\"dtype\":\"I32\",\"shape\":[0],\"data_offsets\":[0,0]}}";
    s = open_header(h, strlen(h), 0, &st, &secs);
    CHECK_MSG(s == TCONV_OK, "%s", tconv_last_error());
    if (st) {
        tconv_tensor_info info;
        CHECK(tconv_safetensors_info(st, 0, &info) == TCONV_OK &&
              strcmp(info.name, "a\xc2\x9b\nb") == 0); /* the name itself is unchanged */
        float dst[1];
        const int64_t shape[1] = {0};
        s = tconv_safetensors_read_f32(st, info.name, 1, shape, dst, 1);
        CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "'a\\xc2\\x9b\\x0ab'") &&
                      !has_raw_control(tconv_last_error()) &&
                      !strstr(tconv_last_error(), "\xc2\x9b"),
                  "escaped dtype error: '%s'", tconv_last_error());
        s = tconv_safetensors_find(st, "no\x1b]0;title\x07", NULL);
        CHECK_MSG(s == TCONV_ERROR_NOT_FOUND && strstr(tconv_last_error(), "no\\x1b]0;title\\x07") &&
                      !has_raw_control(tconv_last_error()),
                  "escaped not-found: '%s'", tconv_last_error());
        tconv_safetensors_close(st);
    }
    /* an unknown dtype string is shown escaped too */
    h = "{\"a\":{\"dtype\":\"\\u001bF32\",\"shape\":[0],\"data_offsets\":[0,0]}}";
    s = open_header(h, strlen(h), 0, &st, &secs);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "\\x1bF32") &&
                  !has_raw_control(tconv_last_error()),
              "escaped dtype: '%s'", tconv_last_error());
    /* a path with a control character */
    s = tconv_safetensors_open("/nonexistent/\x1b[31mred", &st);
    CHECK_MSG(s == TCONV_ERROR_IO && strstr(tconv_last_error(), "\\x1b[31mred") &&
                  !has_raw_control(tconv_last_error()),
              "escaped path: '%s'", tconv_last_error());
    /* a very long name is cut, not overflowing the message */
    sbuf b = {0};
    sb_str(&b, "{\"");
    for (int i = 0; i < 5000; i++) sb_str(&b, "\\u0007");
    sb_str(&b, "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,0]}}");
    s = open_header(b.p, b.n, 0, &st, &secs);
    CHECK_MSG(s == TCONV_ERROR_FORMAT && strstr(tconv_last_error(), "\\x07\\x07...") &&
                  !has_raw_control(tconv_last_error()),
              "long name: '%.120s'", tconv_last_error());
    free(b.p);
    alarm(0);
}

/* With an argument, only the cases whose name contains it run. */
int main(int argc, char **argv) {
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {{"many_metadata_keys", test_many_metadata_keys},
                 {"many_tensors", test_many_tensors},
                 {"shapes_pool", test_shapes_pool},
                 {"not_regular_files", test_not_regular_files},
                 {"sizes_against_file", test_sizes_against_file},
                 {"utf8", test_utf8},
                 {"names_escaped", test_names_escaped}};
    signal(SIGALRM, on_alarm);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (argc < 2 || strstr(cases[i].name, argv[1])) cases[i].fn();
    return tc_test_summary("test_reliability_safetensors");
}
