#!/bin/sh
# bench/fm-train.sh — Factorization Machine training throughput, sten vs a
# PyTorch FM (EmbeddingBag, same k, Adam with the same group rates, batch
# 500, MSE) on MovieLens 100K fold u1, same threads pinned to the same cores,
# alternating runs. Appends to bench/RESULTS.md. PyTorch: python3-torch,
# installed on demand.   THREADS=2 ROUNDS=3 sh bench/fm-train.sh
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
D=${1:-$ROOT/../shared/data/ml-100k}
. bench/lib.sh
bench_need_torch
bench_build sten
bench_threads "$THREADS"
W=$ROOT/out/fm-train
mkdir -p "$W"
cd "$W"
awk -F'\t' '{ printf "%s %d:1 %d:1\n", $3, $1 - 1, 943 + $2 - 1 }' "$D/u1.base" >train.svm
cat >hp.json <<'JSON'
{"feature_dim": "2625", "num_factors": "32", "predictor_type": "regressor", "epochs": "21",
 "mini_batch_size": "500", "bias_lr": "0.01", "linear_lr": "0.005", "factors_lr": "0.002",
 "bias_wd": "0", "linear_wd": "0", "factors_wd": "0"}
JSON
: >runs.txt
r=0
while [ $r -lt "$ROUNDS" ]; do
    # sten: 21 epochs, the first is warm-up; total examples over the time of epochs 2..21
    taskset -c "$cores" "$ROOT/build/sten" train --algorithm factorization-machines --hyperparameters hp.json \
        --train train.svm --model-dir m --index-base 0 2>&1 |
        awk '/epoch [0-9]+:/ { if ($4 != "1:") { split($0, a, ", "); s += a[2] + 0; n++ } }
             END { printf "sten %.1f\n", n * 80000 / s }' >>runs.txt
    taskset -c "$cores" /usr/bin/python3 "$ROOT/bench/fm_torch.py" --train train.svm --dim 2625 --factors 32 \
        --batch 500 --epochs 20 --threads "$THREADS" |
        sed -n 's/.*"examples_per_s": \([0-9.]*\).*/pytorch \1/p' >>runs.txt
    r=$((r + 1))
done
sten=$(awk '$1 == "sten" { print $2 }' runs.txt | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
torch=$(awk '$1 == "pytorch" { print $2 }' runs.txt | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
ratio=$(awk -v a="$sten" -v b="$torch" 'BEGIN { printf "%.2f", a / b }')
table="| implementation | examples/s (median of $ROUNDS) |
|---|---|
| sten | $sten |
| pytorch | $torch |

**sten trains the FM ${ratio}x faster than PyTorch** (issue #7 asks for 5x)."
echo "$table"
{
    echo
    echo "## bench/fm-train — Factorization Machine training throughput ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`THREADS=$THREADS ROUNDS=$ROUNDS sh bench/fm-train.sh\` (ML-100K u1.base, one-hot"
    echo "users and movies, feature_dim 2625, 32 factors, batch 500, Adam with group rates 0.01/0.005/0.002,"
    echo "squared error; CPU: $model; OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=$THREADS, pinned with taskset)."
    echo
    echo "$table"
} >>"$ROOT/bench/RESULTS.md"
