/* cmd_info.c — `sten info`: what this build is and what it will use. */
#include "cli.h"

#include <getopt.h>

const char cmd_info_usage[] =
    "usage: sten info [--threads N]\n"
    "\n"
    "Prints the sten version, the BLAS library in use and its core type (with\n"
    "a warning when OpenBLAS runs generic kernels; see STEN_BLAS_CORETYPE in\n"
    "docs/performance.md), the thread count kernels will use, the kernels each\n"
    "precision runs on, and what --precision auto picks here (measured: ~10 ms).\n"
    "\n"
    "  -t, --threads N   threads to report for (default: all cores)\n";

int cmd_info(int argc, char **argv)
{
    const cli_cmd *self = cli_find("info");
    static const struct option opts[] = {
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long long threads = 0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":t:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (cli_parse_int(self, "--threads", optarg, 0, 1024, &threads))
                return CLI_EX_USAGE;
            break;
        case 'h':
            cli_print_usage(stdout, self);
            return CLI_EX_OK;
        case ':':
            return cli_usage_error(self, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(self, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    sten_ctx *ctx = cli_ctx_new("info");
    sten_ctx_set_threads(ctx, (int)threads);
    printf("sten      %s\n", sten_version());
    printf("blas      %s\n", sten_blas_info());
    char core[400];
    cli_blas_core_describe(core, sizeof core);
    printf("blas core %s\n", core);
    printf("threads   %d\n", sten_ctx_threads(ctx));
    char mpi[160];
    cli_mpi_describe(mpi, sizeof mpi);
    printf("mpi       %s\n", mpi);
    printf("gemm      %s\n", sten_gemm_info());
    printf("bf16      %s\n", sten_bf16_supported() ? "yes (AVX-512 BF16: --precision bf16 available)"
                                                  : "no (needs AVX-512 BF16, and STEN_KERNELS unset)");
    printf("bf16 on   %s\n", sten_precision_kernel());
    sten_precision_report r;
    char why[256];
    sten_precision_probe(ctx, &r);
    sten_precision_describe(&r, why, sizeof why);
    printf("auto      %s\n", why);
    printf("int8 on   %s (--precision int8: inference only)\n", sten_int8_kernel());
    sten_ctx_free(ctx);
    return CLI_EX_OK;
}
