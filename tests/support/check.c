#include "check.h"

int tc_test_failures = 0;
int tc_test_checks = 0;

int tc_test_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, tc_test_checks - tc_test_failures,
           tc_test_failures);
    if (tc_test_checks == 0) {
        printf("%s: no checks ran\n", name);
        return 1;
    }
    return tc_test_failures ? 1 : 0;
}
