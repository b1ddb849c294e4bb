/* cli.h -- small helpers shared by the tconv subcommands: option matching,
 * number/shape parsing, printing, a clock. */
#ifndef TCONV_TOOLS_CLI_H
#define TCONV_TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Exit codes: 0 ok, 1 the computation failed or a check did not hold
 * (including parameters the library refuses), 2 bad command line. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Matches argv[*i] against --long_name (also --long_name=VALUE) or -short_name
 * (short_name may be NULL).  For an option with a value (value != NULL) the
 * value is the text after '=' or the next argument (then *i advances).
 * Returns 1 on a match, 0 if it is another option, -1 if the value is
 * missing (an error has been printed, prefixed by cmd). */
int cli_opt(const char *cmd, int argc, char **argv, int *i, const char *long_name,
            const char *short_name, const char **value);

/* Parses a whole decimal int64 ("12", "-3").  Returns 1 on success. */
int cli_parse_i64(const char *s, int64_t *v);

/* Parses up to max integers separated by ',' or 'x' (optionally wrapped in
 * () or []), e.g. "1,64,16,16", "1x64x16x16", "(3, 5)".  *count receives how
 * many.  Returns 1 on success. */
int cli_parse_list(const char *s, int64_t *v, int max, int *count);

/* An int or an (h, w) pair: "3" -> {3, 3}, "3,5" -> {3, 5}. */
int cli_parse_pair(const char *s, int64_t v[2]);

/* Comma-separated floats; *count receives how many (at most max). */
int cli_parse_floats(const char *s, float *v, int64_t max, int64_t *count);

/* Prints "cmd: bad value for --opt: 'text' (expected what)" and returns CLI_USAGE. */
int cli_bad_value(const char *cmd, const char *opt, const char *text, const char *expected);

/* "1x64x16x16" into buf. */
const char *cli_shape_x(char *buf, size_t len, const int64_t *shape, int ndim);
/* "torch.Size([1, 64, 16, 16])" into buf, as the seeds print shapes. */
const char *cli_shape_torch(char *buf, size_t len, const int64_t *shape, int ndim);

/* Prints an h x w matrix, each row prefixed by indent; integers as
 * integers, otherwise with 4 decimals; columns aligned. */
void cli_print_matrix(FILE *f, const char *indent, const float *m, int64_t h, int64_t w);

/* The first of these that exists: models/<file> in the current directory,
 * <file> in the installed share/tconv (found from this executable's own
 * directory), models/<file> in the source tree tconv was built from; it is
 * written to buf (len bytes).  NULL if none exists, and tried (tried_len
 * bytes) lists the places looked at, for the message. */
const char *cli_find_model_file(const char *file, char *buf, size_t len, char *tried,
                                size_t tried_len);

/* Seconds from a monotonic clock. */
double cli_now(void);

#endif
