/* commands.c — the table of subcommands, in the order `sten --help` lists
 * them. Adding a subcommand = one cmd_*.c file and one line here. */
#include "cli.h"

const cli_cmd cli_commands[] = {
    {"synth", "generate synthetic interaction data (seeded, realistic skew)", cmd_synth_usage, cmd_synth},
    {"convert", "interaction logs (MovieLens, CSV) -> DSSTNE text", cmd_convert_usage, cmd_convert},
    {"generate-netcdf", "DSSTNE text data + index files -> NetCDF dataset", cmd_generate_netcdf_usage,
     cmd_generate_netcdf},
    {"train", "train a network from a DSSTNE JSON config", cmd_train_usage, cmd_train},
    {"info", "show version, BLAS, threads and build settings", cmd_info_usage, cmd_info},
    {NULL, NULL, NULL, NULL},
};
