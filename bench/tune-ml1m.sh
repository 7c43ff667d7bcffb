#!/bin/sh
# bench/tune-ml1m.sh — `sten tune` on MovieLens-1M strong generalization: a
# Bayesian search (examples/movielens/tune-dae.json: 24 trials, 2 at a time,
# median-rule early stopping) over Mult-DAE's rate, width, denoising, weight
# decay and batch size on the VALIDATION users' NDCG@100; then the best trial's model
# and the hand-chosen config (examples/movielens/mult-dae.json, Liang et
# al.'s settings, selected on the same validation users) on the TEST users.
# Appends the table, with the tuning's wall time, to $RESULTS.
#   sh bench/tune-ml1m.sh [RATINGS] [WORKDIR]    SPEC=FILE for another spec
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
R=${1:-$ROOT/../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz}
W=${2:-$ROOT/out/tune-ml1m}
SPEC=${SPEC:-$ROOT/examples/movielens/tune-dae.json}
. bench/lib.sh
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
bench_build sten
mkdir -p "$W"
# a copy of the binary: rebuilding sten during the tuning must not change its trials
cp "$ROOT/build/sten" "$W/sten"
S=$W/sten
cd "$W"
bench_strong_split "$S" "$R"
"$S" generate-netcdf --force -d gl_input -i st-valid-foldin.txt -o vin.nc -f features -s vsamples
"$S" generate-netcdf --force -d gl_output -i st-valid-holdout.txt -o vout.nc -f features -s vsamples
"$S" tune --spec "$SPEC" --dir tune --force -- -c "$ROOT/examples/movielens/mult-dae.json" \
    -i gl_input.nc -o gl_output.nc --validate vin.nc --validate vout.nc >tune.out 2>tune.err
cat tune.out
"$S" train -c "$ROOT/examples/movielens/mult-dae.json" -i gl_input.nc -o gl_output.nc -n hand.nc --force \
    --validate vin.nc --validate vout.nc --select ndcg@100 --keep-best 2>hand.log
table="| Mult-DAE settings | validation NDCG@100 | test Recall@20 | test Recall@50 | test NDCG@100 |
|---|---|---|---|---|"
for m in hand tuned; do
    model=hand.nc
    [ $m = tuned ] && model=tune/best-model.nc
    "$S" predict --force -d gl -n $model -r st-test-foldin.txt -i features -o features -f st-test-foldin.txt \
        -k 100 -s $m.recs 2>/dev/null
    "$S" evaluate -r $m.recs -t st-test-holdout.txt -k 20,50,100 --features features --json >$m.json
    r20=$(sed -n 's/.*"k": 20, [^}]*"recall_trunc": \([0-9.]*\).*/\1/p' $m.json)
    r50=$(sed -n 's/.*"k": 50, [^}]*"recall_trunc": \([0-9.]*\).*/\1/p' $m.json)
    n100=$(sed -n 's/.*"k": 100, [^}]*"ndcg": \([0-9.]*\).*/\1/p' $m.json)
    if [ $m = hand ]; then
        v=$(sed -n 's/.*ndcg@100 \([0-9.]*\) (best so far)$/\1/p' hand.log | tail -n 1)
        name="hand-chosen (mult-dae.json: Alpha 0.001, N 200, Denoising 0.5, Lambda 0.001, batch 500)"
    else
        v=$(sed -n 's/.*"objective": \([0-9.]*\),.*/\1/p' tune/best.json)
        name="sten tune's best: $(tr -d '\n' <tune/best.json | sed -n 's/.*"params": \({[^}]*}\).*/\1/p' | sed 's/  */ /g')"
    fi
    table="$table
| $name | $v | $r20 | $r50 | $n100 |"
done
wall=$(sed -n 's/.*"wall_seconds": \([0-9.]*\).*/\1/p' tune/best.json)
counts=$(tail -n 1 tune.out)
echo "$table"
{
    echo
    echo "## sten tune: Mult-DAE on MovieLens-1M strong generalization ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`sh bench/tune-ml1m.sh\` (spec $(basename "$SPEC"); the protocol of bench/strong-ml1m.sh;"
    echo "every setting chosen on the validation users, the test users used only for this table;"
    echo "tuning: $counts; wall time ${wall} s on a shared machine; \`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'), $(getconf _NPROCESSORS_ONLN) threads)."
    echo
    echo "$table"
} >>"$RESULTS"
