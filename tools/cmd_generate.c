/* cmd_generate.c -- placeholder until issue 4 supplies `tconv generate`
 * (a DCGAN generator run in C, writing a PNG grid).  Replace this file. */
#include "commands.h"

#include <stdio.h>

int cmd_generate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "tconv generate: not built yet (issue 4)\n");
    return 2;
}
