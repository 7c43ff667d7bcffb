#!/bin/sh
# bench/fm-ml100k.sh — Factorization Machines on MovieLens 100K, the official
# u1..u5 folds, SageMaker's encoding (user one-hot + movie one-hot,
# feature_dim 2625): regressor RMSE per fold and mean; binary classifier
# (rating >= 4) accuracy and AUC. Appends to bench/RESULTS.md.
#   sh bench/fm-ml100k.sh [ML100K_DIR] [WORKDIR]
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
D=${1:-$ROOT/../shared/data/ml-100k}
W=${2:-$ROOT/out/fm-ml100k}
. bench/lib.sh
bench_build sten
S=$ROOT/build/sten
mkdir -p "$W"
cd "$W"
# u.data ids are dense (943 users, 1682 movies): one-hot index = id - 1, movies after users
for f in 1 2 3 4 5; do
    for s in base test; do
        awk -F'\t' '{ printf "%s %d:1 %d:1\n", $3, $1 - 1, 943 + $2 - 1 }' "$D/u$f.$s" >r$f.$s
        awk -F'\t' '{ printf "%d %d:1 %d:1\n", ($3 >= 4), $1 - 1, 943 + $2 - 1 }' "$D/u$f.$s" >c$f.$s
    done
done
# The regressor's settings were chosen on a validation split carved out of u1.base (every
# tenth line), never on the test folds: num_factors {32, 64} x epochs {15..30} x factors_lr
# {0.001, 0.002}; best 64 / 25 / 0.001 (validation RMSE 0.904).
cat >reg.json <<'JSON'
{"feature_dim": "2625", "num_factors": "64", "predictor_type": "regressor", "epochs": "25",
 "mini_batch_size": "500", "bias_lr": "0.01", "linear_lr": "0.005", "factors_lr": "0.001",
 "bias_wd": "0", "linear_wd": "0", "factors_wd": "0"}
JSON
cat >cls.json <<'JSON'
{"feature_dim": "2625", "num_factors": "64", "predictor_type": "binary_classifier", "epochs": "20",
 "mini_batch_size": "1000", "linear_lr": "0.005", "factors_lr": "0.001"}
JSON
rows="| fold | regressor RMSE | classifier accuracy | classifier AUC | seconds (both) |
|---|---|---|---|---|"
sum=0
for f in 1 2 3 4 5; do
    t0=$(date +%s.%N)
    r=$("$S" train --force --algorithm factorization-machines --hyperparameters reg.json --train r$f.base \
        --test r$f.test --model-dir reg$f --index-base 0 2>/dev/null | sed -n 's/{"test:rmse": \(.*\)}/\1/p')
    "$S" train --force --algorithm factorization-machines --hyperparameters cls.json --train c$f.base \
        --test c$f.test --model-dir cls$f --index-base 0 >cls$f.out 2>/dev/null
    t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    acc=$(sed -n 's/{"test:binary_classification_accuracy": \(.*\)}/\1/p' cls$f.out)
    auc=$(sed -n 's/{"test:auc": \(.*\)}/\1/p' cls$f.out)
    sum=$(awk -v s="$sum" -v r="$r" 'BEGIN { print s + r }')
    rows="$rows
| u$f | $r | $acc | $auc | $t |"
done
mean=$(awk -v s="$sum" 'BEGIN { printf "%.4f", s / 5 }')
echo "$rows"
echo "mean RMSE $mean (target 0.915; Surprise: SVD 0.934, SVD++ 0.919)"
{
    echo
    echo "## Factorization Machines on MovieLens 100K, folds u1..u5 ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`sh bench/fm-ml100k.sh\` (SageMaker's encoding, feature_dim 2625; regressor: 64"
    echo "factors, 25 epochs, Adam with bias/linear/factors lr 0.01/0.005/0.001, no decay, chosen on a"
    echo "validation split of u1.base; classifier:"
    echo "rating >= 4, 64 factors, 20 epochs; \`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) threads)."
    echo
    echo "$rows"
    echo
    echo "**Mean RMSE $mean** over the five folds (issue #7 asks for at most 0.915; Surprise reports"
    echo "SVD 0.934 and SVD++ 0.919 on the same folds)."
} >>"$ROOT/bench/RESULTS.md"
