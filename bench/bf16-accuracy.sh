#!/bin/sh
# bench/bf16-accuracy.sh — does bf16 precision train to the same quality?
# The strong-generalization protocol of bench/strong-ml1m.sh on MovieLens-1M
# (600 validation + 600 test users held out, 80/20 fold-in), the DSSTNE
# autoencoder trained and served in fp32 and in bf16 from the same seed, for
# two optimizers: the example config's Adam and plain SGD (whose bf16 update
# runs inside the gradient product). Reports Recall@20, NDCG@100, the
# relative difference, and training seconds; appends to bench/RESULTS.md.
#   sh bench/bf16-accuracy.sh [RATINGS] [WORKDIR]
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
R=${1:-$ROOT/../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz}
W=${2:-$ROOT/out/bf16-accuracy}
. bench/lib.sh
bench_build sten
S=$ROOT/build/sten
if ! "$S" info | grep -q "^bf16 *yes"; then
    echo "bf16-accuracy: this CPU cannot run --precision bf16 (needs AVX-512 BF16)" >&2
    exit 1
fi
mkdir -p "$W"
cd "$W"
bench_strong_split "$S" "$R"
# SGD: the issue's optimizer (DSSTNE's default), everything else as the example
sed -e 's/"Optimizer" : "Adam"/"Optimizer" : "SGD"/' -e 's/"Alpha" : 0.003/"Alpha" : 0.05/' \
    "$ROOT/examples/movielens/config.json" >sgd.json
table="| optimizer | precision | Recall@20 | NDCG@100 | train seconds |
|---|---|---|---|---|"
summary=""
for opt in adam sgd; do
    cfg=$ROOT/examples/movielens/config.json
    [ $opt = sgd ] && cfg=sgd.json
    for p in fp32 bf16; do
        t0=$(date +%s.%N)
        "$S" train -c "$cfg" -i gl_input.nc -o gl_output.nc -n ae-$opt-$p.nc --precision $p --force 2>/dev/null
        secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        "$S" predict --force -d gl -n ae-$opt-$p.nc -r st-test-foldin.txt -i features -o features \
            -f st-test-foldin.txt -k 100 -s $opt-$p.recs --precision $p
        "$S" evaluate -r $opt-$p.recs -t st-test-holdout.txt -k 20,100 --features features --json >$opt-$p.json
        r20=$(sed -n 's/.*"k": 20, "precision": [0-9.]*, "recall": \([0-9.]*\).*/\1/p' $opt-$p.json)
        n100=$(sed -n 's/.*"k": 100, [^}]*"ndcg": \([0-9.]*\).*/\1/p' $opt-$p.json)
        table="$table
| $opt | $p | $r20 | $n100 | $secs |"
        eval "r20_$p=$r20; n100_$p=$n100"
    done
    # shellcheck disable=SC2154
    summary="$summary
$opt: bf16 Recall@20 differs from fp32 by $(awk -v a="$r20_fp32" -v b="$r20_bf16" 'BEGIN { printf "%+.2f%%", (b - a) / a * 100 }'), NDCG@100 by $(awk -v a="$n100_fp32" -v b="$n100_bf16" 'BEGIN { printf "%+.2f%%", (b - a) / a * 100 }') (target: within 1%)."
done
echo "$table"
echo "$summary"
{
    echo
    echo "## bf16 precision: same quality? Strong generalization on MovieLens-1M ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`sh bench/bf16-accuracy.sh\` (protocol of bench/strong-ml1m.sh; the same seed for"
    echo "both precisions; the model trained in a precision is also served in it; \`lscpu\`:"
    echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) threads)."
    echo
    echo "$table"
    echo "$summary"
} >>"$ROOT/bench/RESULTS.md"
