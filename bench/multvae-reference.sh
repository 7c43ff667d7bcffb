#!/bin/sh
# bench/multvae-reference.sh — sten's Mult-VAE and Mult-DAE beside a PyTorch
# reference of Liang et al.'s recipe (bench/multvae_torch.py: the same
# layers, normalisation, dropout, KL annealing to 0.2 over 2,000 steps as
# examples/movielens/mult-vae.json, Adam 1e-3, batch 500, 200 epochs, best
# validation epoch kept) on the split bench/strong-ml1m.sh made (run it
# first); both scored by `sten evaluate` on the test users. Appends to
# $RESULTS.   sh bench/multvae-reference.sh [WORKDIR]
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
W=${1:-$ROOT/out/strong-ml1m}
. bench/lib.sh
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
bench_need_torch
bench_build sten
S=$ROOT/build/sten
[ -s "$W/vae.recs" ] && [ -s "$W/dae.recs" ] || { echo "run bench/strong-ml1m.sh first" >&2; exit 1; }
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
row() { # row NAME RECS VALIDATION
    "$S" evaluate -r "$2" -t "$W/st-test-holdout.txt" -k 20,50,100 --features "$W/features" --json >"$W/ref.json"
    r20=$(sed -n 's/.*"k": 20, [^}]*"recall_trunc": \([0-9.]*\).*/\1/p' "$W/ref.json")
    r50=$(sed -n 's/.*"k": 50, [^}]*"recall_trunc": \([0-9.]*\).*/\1/p' "$W/ref.json")
    n100=$(sed -n 's/.*"k": 100, [^}]*"ndcg": \([0-9.]*\).*/\1/p' "$W/ref.json")
    echo "| $1 | $3 | $r20 | $r50 | $n100 |"
}
table="| model | validation NDCG@100 | test Recall@20 | test Recall@50 | test NDCG@100 |
|---|---|---|---|---|"
for k in vae dae; do
    line=$("$PY" bench/multvae_torch.py $k "$W" 200 2000 0.2 | tail -n 1)
    v=$(echo "$line" | sed -n 's/.*NDCG@100 \([0-9.]*\) at epoch.*/\1/p')
    sv=$(sed -n 's/.*ndcg@100 \([0-9.]*\) (best so far)$/\1/p' "$W/$k.log" | tail -n 1)
    up=$(echo "$k" | tr a-z A-Z)
    table="$table
$(row "sten Mult-$up (examples/movielens/mult-$k.json)" "$W/$k.recs" "$sv")
$(row "PyTorch Mult-$up ($(echo "$line" | sed -n 's/.*; torch \(.*\)/torch \1/p'))" "$W/torch-$k.recs" "$v")"
done
echo "$table"
{
    echo
    echo "## Mult-VAE / Mult-DAE beside a PyTorch reference on MovieLens-1M strong generalization ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`sh bench/strong-ml1m.sh && sh bench/multvae-reference.sh\` (the same split and validation users;"
    echo "the reference is Liang et al.'s recipe written in PyTorch, bench/multvae_torch.py, with sten's KL schedule;"
    echo "\`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'), 2 threads)."
    echo
    echo "$table"
} >>"$RESULTS"
