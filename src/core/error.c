/* error.c -- per-thread error messages, status names, version. */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char tl_message[1024];

tconv_status tc_fail(tconv_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_message, sizeof tl_message, fmt, ap);
    va_end(ap);
    return status;
}

void tc_clear_error(void) { tl_message[0] = '\0'; }

const char *tconv_last_error(void) { return tl_message; }

const char *tconv_status_string(tconv_status status) {
    switch (status) {
    case TCONV_OK: return "ok";
    case TCONV_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case TCONV_ERROR_OVERFLOW: return "size overflow";
    case TCONV_ERROR_OUT_OF_MEMORY: return "out of memory";
    case TCONV_ERROR_INVALID_STATE: return "invalid state";
    case TCONV_ERROR_UNSUPPORTED: return "unsupported";
    case TCONV_ERROR_IO: return "i/o error";
    case TCONV_ERROR_FORMAT: return "malformed data";
    case TCONV_ERROR_NOT_FOUND: return "not found";
    }
    return "unknown status";
}

#define TC_STR2(x) #x
#define TC_STR(x) TC_STR2(x)
const char *tconv_version(void) {
    return TC_STR(TCONV_VERSION_MAJOR) "." TC_STR(TCONV_VERSION_MINOR) "." TC_STR(
        TCONV_VERSION_PATCH);
}

const char *tc_fmt_dims(char *buf, size_t cap, const int64_t *dims, int n) {
    size_t used = 0;
    int w = snprintf(buf, cap, "[");
    used = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < n && used < cap; i++) {
        w = snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)dims[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (used < cap) snprintf(buf + used, cap - used, "]");
    return buf;
}
