#!/bin/sh
# bench/strong-ml1m.sh — the Liang et al. (2018) strong-generalization
# protocol on MovieLens-1M (../shared/data/ml-1m, ratings > 3.5 positive,
# users with >= 5 items, 600 validation + 600 test users held out, 80/20
# fold-in): the DSSTNE autoencoder vs EASE vs popularity, Recall@20 and
# NDCG@100. Appends the table to bench/RESULTS.md.
#   sh bench/strong-ml1m.sh [RATINGS] [WORKDIR]
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
R=${1:-$ROOT/../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz}
W=${2:-$ROOT/out/strong-ml1m}
. bench/lib.sh
bench_build sten
S=$ROOT/build/sten
mkdir -p "$W"
cd "$W"
bench_strong_split "$S" "$R"
t0=$(date +%s.%N)
"$S" train -c "$ROOT/examples/movielens/config.json" -i gl_input.nc -o gl_output.nc -n ae.nc --force 2>/dev/null
t_ae=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
"$S" predict --force -d gl -n ae.nc -r st-test-foldin.txt -i features -o features -f st-test-foldin.txt -k 100 -s ae.recs
t0=$(date +%s.%N)
"$S" baseline --force ease --train st-train.txt -r st-test-foldin.txt -k 100 -s ease.recs --lambda 500
t_ease=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
"$S" baseline --force popularity --train st-train.txt -r st-test-foldin.txt -k 100 -s pop.recs
table="| model | Recall@20 | NDCG@100 | fit seconds |
|---|---|---|---|"
for m in ae ease pop; do
    "$S" evaluate -r $m.recs -t st-test-holdout.txt -k 20,100 --features features --json >$m.json
    r20=$(sed -n 's/.*"k": 20, "precision": [0-9.]*, "recall": \([0-9.]*\).*/\1/p' $m.json)
    n100=$(sed -n 's/.*"k": 100, [^}]*"ndcg": \([0-9.]*\).*/\1/p' $m.json)
    name=$(case $m in ae) echo "autoencoder (DSSTNE network, Adam 40 epochs)";; ease) echo "EASE (lambda 500)";; *) echo popularity;; esac)
    secs=$(case $m in ae) echo "$t_ae";; ease) echo "$t_ease";; *) echo "-";; esac)
    table="$table
| $name | $r20 | $n100 | $secs |"
done
echo "$table"
{
    echo
    echo "## Strong generalization on MovieLens-1M ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`sh bench/strong-ml1m.sh\` (ratings $(basename "$R"); 600 validation and 600 test"
    echo "users held out, seed 98765; metrics over the test users' 20% held-out positives, fold-in items"
    echo "excluded from the lists; \`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) threads)."
    echo
    echo "$table"
} >>"$ROOT/bench/RESULTS.md"
