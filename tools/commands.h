/* commands.h -- the tconv subcommands.  Each takes the arguments after its
 * name (argv[0] is the command name) and returns the process exit code:
 * 0 ok, 1 failure (the library refused, a check did not hold), 2 bad usage. */
#ifndef TCONV_TOOLS_COMMANDS_H
#define TCONV_TOOLS_COMMANDS_H

int cmd_shape(int argc, char **argv);    /* tools/cmd_shape.c */
int cmd_explain(int argc, char **argv);  /* tools/cmd_explain.c */
int cmd_demo(int argc, char **argv);     /* tools/cmd_demo.c */
int cmd_generate(int argc, char **argv); /* tools/cmd_generate.c */
int cmd_train(int argc, char **argv);    /* tools/cmd_train.c */

#endif
