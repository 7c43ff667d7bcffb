/* main.c — `sten <subcommand> [options]`: dispatch, --help, --version,
 * `sten help <subcommand>`. Each subcommand lives in its own cmd_*.c. */
#include "cli.h"

#include <string.h>

static void print_help(FILE *f)
{
    fprintf(f,
            "sten %s - Sparse Tensor ENgine: train and serve recommender models on sparse data\n\n"
            "usage: sten <subcommand> [options]\n"
            "       sten help <subcommand>\n"
            "       sten --help | --version\n\n"
            "subcommands:\n",
            sten_version());
    for (const cli_cmd *c = cli_commands; c->name; c++)
        fprintf(f, "  %-16s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    int rc = cli_blas_core_fix(argv); /* before any BLAS call or thread; may not return */
    if (rc != CLI_EX_OK)
        return rc;
    if (argc < 2) {
        print_help(stderr);
        return CLI_EX_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        print_help(stdout);
        return CLI_EX_OK;
    }
    if (!strcmp(sub, "--version") || !strcmp(sub, "-V")) {
        printf("sten %s\n", sten_version());
        return CLI_EX_OK;
    }
    if (!strcmp(sub, "help")) {
        if (argc == 2) {
            print_help(stdout);
            return CLI_EX_OK;
        }
        const cli_cmd *c = cli_find(argv[2]);
        if (!c || argc > 3) {
            fprintf(stderr, "sten help: %s '%s'\n\n",
                    c ? "too many arguments after" : "unknown subcommand", argv[2]);
            print_help(stderr);
            return CLI_EX_USAGE;
        }
        cli_print_usage(stdout, c);
        return CLI_EX_OK;
    }
    const cli_cmd *c = cli_find(sub);
    if (!c) {
        fprintf(stderr, "sten: unknown %s '%s'\n\n", sub[0] == '-' ? "option" : "subcommand", sub);
        print_help(stderr);
        return CLI_EX_USAGE;
    }
    if ((rc = cli_mpi_start(&argc, &argv, c->name)) != CLI_EX_OK)
        return rc;
    return cli_mpi_finish(c->run(argc - 1, argv + 1));
}
