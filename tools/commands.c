/* commands.c — the table of subcommands, in the order `sten --help` lists
 * them. Adding a subcommand = one cmd_*.c file and one line here. */
#include "cli.h"

const cli_cmd cli_commands[] = {
    {"synth", "generate synthetic interaction data (seeded, realistic skew)", cmd_synth_usage, cmd_synth},
    {"convert", "interaction logs (MovieLens, CSV) -> DSSTNE text", cmd_convert_usage, cmd_convert},
    {"split", "train/test splits: random, leave-one-out, temporal, strong generalization", cmd_split_usage, cmd_split},
    {"generate-netcdf", "DSSTNE text data + index files -> NetCDF dataset", cmd_generate_netcdf_usage,
     cmd_generate_netcdf},
    {"train", "train a network from a DSSTNE JSON config", cmd_train_usage, cmd_train},
    {"predict", "top-K recommendations from a trained model, seen items excluded", cmd_predict_usage, cmd_predict},
    {"evaluate", "Precision/Recall/NDCG/MAP@k of recommendations; RMSE/AUC of scores", cmd_evaluate_usage, cmd_evaluate},
    {"tune", "automatic model tuning: random, Bayesian or Hyperband search over config or hyperparameter ranges",
     cmd_tune_usage, cmd_tune},
    {"report", "a self-contained HTML report: training curves, ranking metrics, long tail, embeddings",
     cmd_report_usage, cmd_report},
    {"baseline", "popularity and EASE baselines, written like predict's output", cmd_baseline_usage, cmd_baseline},
    {"similar", "item-to-item neighbours: cosine, Jaccard, conditional probability, EASE", cmd_similar_usage, cmd_similar},
    {"store", "fill the serving store: precomputed lists and item neighbours (LMDB)", cmd_store_usage, cmd_store},
    {"serve", "HTTP recommendation service: model, precomputed, item-to-item", cmd_serve_usage, cmd_serve},
    {"info", "show version, BLAS, threads and build settings", cmd_info_usage, cmd_info},
    {NULL, NULL, NULL, NULL},
};
