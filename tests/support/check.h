/* check.h -- a minimal assertion harness for the C tests. */
#ifndef TCONV_TEST_CHECK_H
#define TCONV_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>

extern int tc_test_failures;
extern int tc_test_checks;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        tc_test_checks++;                                                                  \
        if (!(cond)) {                                                                     \
            tc_test_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                  \
    } while (0)

#define CHECK_MSG(cond, ...)                                                               \
    do {                                                                                   \
        tc_test_checks++;                                                                  \
        if (!(cond)) {                                                                     \
            tc_test_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

/* Prints "N passed, M failed" and returns the process exit code. */
int tc_test_summary(const char *name);

#endif
