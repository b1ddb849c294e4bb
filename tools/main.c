/* main.c -- `tconv`: the command-line face of libtconv.  Dispatches to the
 * subcommands declared in commands.h; uses only the public API. */
#include <stdio.h>
#include <string.h>
#include <tconv.h>

#include "cli.h"
#include "commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"shape", cmd_shape, "output size of ConvTranspose2d / Conv2d, with the formula and output_size"},
    {"explain", cmd_explain,
     "the seeds' decomposition step by step (zero insertion, padding, flip, stride-1 conv)"},
    {"demo", cmd_demo, "the seeds' examples computed with the library, golden 5x5 checked"},
    {"generate", cmd_generate, "run a trained DCGAN generator and write a PNG grid"},
    {"train", cmd_train, "train the digits DCGAN in C, writing its generator and PNG grids"},
};
enum { NUM_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *f) {
    fprintf(f,
            "Usage: tconv <command> [options]\n"
            "       tconv <command> --help\n"
            "       tconv --version\n\n"
            "PyTorch's nn.ConvTranspose2d and nn.Conv2d in C (libtconv %s).\n\n"
            "Commands:\n",
            tconv_version());
    for (int i = 0; i < NUM_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nExit status: 0 ok, 1 the library refused the input or a check failed,\n"
            "2 bad command line.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *a = argv[1];
    if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help")) {
        if (!strcmp(a, "help") && argc > 2) {
            for (int i = 0; i < NUM_COMMANDS; i++)
                if (!strcmp(argv[2], commands[i].name)) {
                    char *args[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, args);
                }
            fprintf(stderr, "tconv: unknown command '%s' (run tconv --help)\n", argv[2]);
            return CLI_USAGE;
        }
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
        printf("tconv %s (libtconv %s, best implementation here: %s, %d threads by default)\n",
               tconv_version(), tconv_version(), tconv_impl_name(tconv_best_impl()),
               tconv_default_num_threads());
        return CLI_OK;
    }
    for (int i = 0; i < NUM_COMMANDS; i++)
        if (!strcmp(a, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    if (a[0] == '-')
        fprintf(stderr, "tconv: unknown option '%s' (run tconv --help)\n", a);
    else
        fprintf(stderr, "tconv: unknown command '%s' (run tconv --help)\n", a);
    return CLI_USAGE;
}
