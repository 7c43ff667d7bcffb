#!/bin/sh
# bench/nbhd-ml1m.sh — the sparse neighbourhood baselines (item-kNN, RP3beta)
# beside EASE and popularity under the strong-generalization split of
# MovieLens-1M (bench_strong_split: 600 validation + 600 test users).
# Each model runs with its defaults, and with the best other setting of a
# small grid chosen on the VALIDATION users' NDCG@20 (never the test users).
# Recall@20, NDCG@20, seconds (fit + scoring). Appends the table to $RESULTS.
#   sh bench/nbhd-ml1m.sh [RATINGS] [WORKDIR] [STEN]
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
R=${1:-$ROOT/../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz}
W=${2:-$ROOT/out/nbhd-ml1m}
. bench/lib.sh
case "${3:-}" in
"") bench_build sten; S=$ROOT/build/sten ;;
*) S=$(cd "$(dirname "$3")" && pwd)/$(basename "$3") ;;
esac
RESULTS=$(cd "$(dirname "$RESULTS")" && pwd)/$(basename "$RESULTS")
mkdir -p "$W"
cd "$W"
[ -s st-test-holdout.txt ] || bench_strong_split "$S" "$R" >/dev/null 2>&1
metric() { sed -n "s/.*\"k\": 20, [^}]*\"$2\": \([0-9.]*\).*/\1/p" "$1"; }
# run NAME SPLIT ARGS...: recs for SPLIT's fold-in users, metrics vs its held-out
run() {
    n=$1 sp=$2
    shift 2
    t0=$(date +%s.%N)
    "$S" baseline --force "$@" --train st-train.txt -r st-$sp-foldin.txt -k 20 -s $n.recs 2>/dev/null
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    "$S" evaluate -r $n.recs -t st-$sp-holdout.txt -k 20 --json >$n.json
}
best() { # best MODEL SETTINGS...: the setting with the highest validation NDCG@20
    m=$1 b="" bn=-1
    shift
    for s in "$@"; do
        # shellcheck disable=SC2086
        run v $valid $m $s
        nd=$(metric v.json ndcg)
        echo "  validation $m $s: NDCG@20 $nd" >&2
        if awk -v a="$nd" -v b="$bn" 'BEGIN { exit !(a > b) }'; then b=$s bn=$nd; fi
    done
    echo "$b"
}
valid=valid
knn=$(best itemknn "--neighbours 50 --shrink 10" "--neighbours 200 --shrink 10" "--neighbours 100 --shrink 100" "--neighbours 100 --shrink 0")
rp3=$(best rp3beta "--alpha 1 --beta 0.3" "--alpha 1 --beta 0.7" "--alpha 0.5 --beta 0.5" "--neighbours 200 --alpha 1 --beta 0.5")
table="| model | setting | Recall@20 | NDCG@20 | seconds |
|---|---|---|---|---|"
for cfg in "popularity|" "ease|--lambda 500" "itemknn|" "itemknn|$knn" "rp3beta|" "rp3beta|$rp3"; do
    m=${cfg%%|*} s=${cfg#*|}
    # shellcheck disable=SC2086
    run t test $m $s
    table="$table
| $m | ${s:-defaults} | $(metric t.json recall) | $(metric t.json ndcg) | $secs |"
done
echo "$table"
{
    echo
    echo "## Neighbourhood baselines on MovieLens-1M, strong generalization ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`sh bench/nbhd-ml1m.sh\` (ratings $(basename "$R"); 600 validation and 600 test users"
    echo "held out, seed 98765; the non-default settings are the best of a 4-setting grid on the"
    echo "validation users' NDCG@20; metrics over the test users' 20% held-out positives, fold-in items"
    echo "excluded; seconds = fit + scoring, wall clock; \`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'),"
    echo "$(nproc) threads, shared (a nice-19 fuzz job runs on one core))."
    echo
    echo "$table"
} >>"$RESULTS"
