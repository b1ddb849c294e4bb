/* cli.c -- helpers shared by the tconv subcommands. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Where an installed tconv finds its data files, relative to its own
 * directory (CMake passes ../share/tconv for the default layout), and the
 * source tree it was built from. */
#ifndef TCONV_DATA_FROM_BIN
#define TCONV_DATA_FROM_BIN "../share/tconv"
#endif

int cli_opt(const char *cmd, int argc, char **argv, int *i, const char *long_name,
            const char *short_name, const char **value) {
    const char *a = argv[*i];
    const char *inline_value = NULL;
    int matched = 0;
    if (a[0] == '-' && a[1] == '-') {
        size_t n = strlen(long_name);
        if (strncmp(a + 2, long_name, n) == 0) {
            if (a[2 + n] == '\0')
                matched = 1;
            else if (a[2 + n] == '=' && value) {
                matched = 1;
                inline_value = a + 3 + n;
            }
        }
    } else if (short_name && a[0] == '-' && strcmp(a + 1, short_name) == 0) {
        matched = 1;
    }
    if (!matched) return 0;
    if (!value) return 1;
    if (inline_value) {
        *value = inline_value;
        return 1;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "tconv %s: option %s needs a value (see --help)\n", cmd, a);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_parse_i64(const char *s, int64_t *v) {
    if (!s) return 0;
    while (*s == ' ') s++;
    if (!*s) return 0;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s) return 0;
    while (*end == ' ') end++;
    if (*end) return 0;
    *v = (int64_t)x;
    return 1;
}

int cli_parse_list(const char *s, int64_t *v, int max, int *count) {
    char buf[256];
    if (!s || strlen(s) >= sizeof buf) return 0;
    strcpy(buf, s);
    char *b = buf;
    size_t len = strlen(b);
    if (len >= 2 && ((b[0] == '(' && b[len - 1] == ')') || (b[0] == '[' && b[len - 1] == ']'))) {
        b[len - 1] = '\0';
        b++;
    }
    int n = 0;
    char *tok = b;
    for (;;) {
        char *sep = strpbrk(tok, ",xX");
        if (sep) *sep = '\0';
        if (n >= max) return 0;
        if (!cli_parse_i64(tok, &v[n])) return 0;
        n++;
        if (!sep) break;
        tok = sep + 1;
    }
    *count = n;
    return 1;
}

int cli_parse_pair(const char *s, int64_t v[2]) {
    int n;
    if (!cli_parse_list(s, v, 2, &n)) return 0;
    if (n == 1) v[1] = v[0];
    return 1;
}

int cli_parse_floats(const char *s, float *v, int64_t max, int64_t *count) {
    int64_t n = 0;
    const char *p = s;
    if (!s) return 0;
    for (;;) {
        char *end;
        errno = 0;
        float f = strtof(p, &end);
        if (errno || end == p || n >= max) return 0;
        v[n++] = f;
        while (*end == ' ') end++;
        if (*end == '\0') break;
        if (*end != ',') return 0;
        p = end + 1;
    }
    *count = n;
    return 1;
}

int cli_bad_value(const char *cmd, const char *opt, const char *text, const char *expected) {
    fprintf(stderr, "tconv %s: bad value for %s: '%s' (expected %s)\n", cmd, opt, text, expected);
    return CLI_USAGE;
}

const char *cli_shape_x(char *buf, size_t len, const int64_t *shape, int ndim) {
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, d ? "x%lld" : "%lld", (long long)shape[d]);
    return buf;
}

const char *cli_shape_torch(char *buf, size_t len, const int64_t *shape, int ndim) {
    size_t used = (size_t)snprintf(buf, len, "torch.Size([");
    for (int d = 0; d < ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (used < len) snprintf(buf + used, len - used, "])");
    return buf;
}

void cli_print_matrix(FILE *f, const char *indent, const float *m, int64_t h, int64_t w) {
    int integers = 1;
    for (int64_t i = 0; i < h * w; i++)
        if (!(m[i] == floorf(m[i]) && fabsf(m[i]) < 1e7f)) integers = 0;
    char cell[64];
    int width = 1;
    for (int64_t i = 0; i < h * w; i++) {
        int n = integers ? snprintf(cell, sizeof cell, "%.0f", (double)m[i])
                         : snprintf(cell, sizeof cell, "%.4f", (double)m[i]);
        if (n > width) width = n;
    }
    for (int64_t r = 0; r < h; r++) {
        fputs(indent, f);
        for (int64_t c = 0; c < w; c++) {
            const double v = (double)m[r * w + c] == 0.0 ? 0.0 : (double)m[r * w + c]; /* no -0 */
            if (integers)
                fprintf(f, "%s%*.0f", c ? " " : "", width, v);
            else
                fprintf(f, "%s%*.4f", c ? " " : "", width, v);
        }
        fputc('\n', f);
    }
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *cli_find_model_file(const char *file, char *buf, size_t len, char *tried,
                                size_t tried_len) {
    struct stat sb;
    size_t used = 0;
    tried[0] = '\0';
#define TRY_PATH()                                                                          \
    do {                                                                                    \
        if (stat(buf, &sb) == 0) return buf;                                                \
        if (used < tried_len)                                                               \
            used += (size_t)snprintf(tried + used, tried_len - used, "%s%s", used ? ", " : "", \
                                     buf);                                                  \
    } while (0)
    if ((size_t)snprintf(buf, len, "models/%s", file) < len) TRY_PATH();
#if defined(__linux__)
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0 && (size_t)n < sizeof exe - 1) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            if ((size_t)snprintf(buf, len, "%s/" TCONV_DATA_FROM_BIN "/%s", exe, file) < len)
                TRY_PATH();
        }
    }
#endif
#ifdef TCONV_SOURCE_DIR
    if ((size_t)snprintf(buf, len, TCONV_SOURCE_DIR "/models/%s", file) < len) TRY_PATH();
#endif
#undef TRY_PATH
    return NULL;
}
