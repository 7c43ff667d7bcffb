#!/bin/sh
# bench/topn-small.sh — top-N on MovieLens-100K and ml-latest-small with a
# random 80/20 split per user (ratings >= 4 as positives; the users' 80% is
# both what the models learn from and what their lists exclude): Mult-DAE
# (settings by `sten tune`, 16 Bayesian trials, and its epoch count, both on
# a validation split carved out of the training part) against EASE and
# item-kNN (their settings from a grid on the same validation split) and
# popularity. The models are then fitted on the whole training part and
# judged once on the test part: NDCG@20 and Recall@20. Appends the tables
# to $RESULTS.
#   sh bench/topn-small.sh [WORKDIR]        SETS="ml-100k" for one of the two
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
W=${1:-$ROOT/out/topn-small}
DATA=$ROOT/../shared/data
. bench/lib.sh
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
bench_build sten
mkdir -p "$W"
cp "$ROOT/build/sten" "$W/sten" # rebuilding sten meanwhile must not change the runs
S=$W/sten
metric() { sed -n "s/.*\"k\": 20, [^}]*\"$2\": \([0-9.]*\).*/\1/p" "$1"; }
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
cat >"$W/tune-small.json" <<'SPEC'
{ "Strategy": "Bayesian", "RandomSeed": 1, "TrainingJobEarlyStoppingType": "Auto",
  "HyperParameterTuningJobObjective": { "Type": "Maximize", "MetricName": "validation:ndcg@20" },
  "ResourceLimits": { "MaxNumberOfTrainingJobs": 16, "MaxParallelTrainingJobs": 2 },
  "ParameterRanges": {
    "ContinuousParameterRanges": [
      { "Name": "Training.Alpha", "MinValue": "0.0003", "MaxValue": "0.01", "ScalingType": "Logarithmic" },
      { "Name": "Denoising.p", "MinValue": 0.1, "MaxValue": 0.8 } ],
    "IntegerParameterRanges": [ { "Name": "Layers.Hidden.N", "MinValue": 50, "MaxValue": 800, "ScalingType": "Logarithmic" } ],
    "CategoricalParameterRanges": [ { "Name": "Training.BatchSize", "Values": [32, 64, 128, 256] } ] } }
SPEC

for set in ${SETS:-ml-100k ml-latest-small}; do
    d=$W/$set
    mkdir -p "$d"
    cd "$d"
    case $set in
    ml-100k) log=$DATA/ml-100k/u.data fmt=udata ;;
    *) log=$DATA/ml-latest-small/ratings.csv fmt=movielens-csv ;;
    esac
    "$S" split --force "$log" --format $fmt --min-rating 4 --protocol random -o r 2>/dev/null
    # the validation split: 20% of each user's training items
    awk -F'\t' '{ n = split($2, it, ":"); for (i = 1; i <= n; i++) print $1 "," it[i] }' r-train.txt >tr.csv
    "$S" split --force tr.csv --format delimited --columns user,item --protocol random --seed 7 -o v 2>/dev/null
    "$S" generate-netcdf --force -d gl_input -i r-train.txt -o in.nc -f features -s samples -c 2>/dev/null
    "$S" generate-netcdf --force -d gl_output -i r-train.txt -o out.nc -f features -s samples 2>/dev/null
    "$S" generate-netcdf --force -d gl_input -i v-train.txt -o vin.nc -f features -s vsamples 2>/dev/null
    "$S" generate-netcdf --force -d gl_output -i v-train.txt -o vtr.nc -f features -s vsamples 2>/dev/null
    # the validation users: those holding out an item (a user with one item stays whole in training),
    # their training rows and held-out rows in the same order
    awk -F'\t' 'NR == FNR { keep[$1] = 1; next } ($1 in keep)' v-test.txt v-train.txt >v-valid-in.txt
    "$S" generate-netcdf --force -d gl_input -i v-valid-in.txt -o vvin.nc -f features -s vvsamples 2>/dev/null
    "$S" generate-netcdf --force -d gl_output -i v-test.txt -o vout.nc -f features -s vvsamples 2>/dev/null
    # Mult-DAE: settings and epochs on the validation split, then the whole training part
    sed 's/"Epochs" : 200/"Epochs" : 150/' "$ROOT/examples/movielens/mult-dae.json" >dae.json
    t0=$(date +%s.%N)
    "$S" tune --spec "$W/tune-small.json" --dir tune --force -- -c dae.json -i vin.nc -o vtr.nc \
        --validate vvin.nc --validate vout.nc >tune.out 2>tune.err
    t_tune=$(secs "$t0")
    ep=$(sed -n 's/.*"best_epoch": \([0-9]*\).*/\1/p' tune/best.json)
    vd=$(sed -n 's/.*"objective": \([0-9.]*\),.*/\1/p' tune/best.json)
    t0=$(date +%s.%N)
    "$S" train -c tune/best-config.json -i in.nc -o out.nc -n dae.nc -e "$ep" --force 2>/dev/null
    "$S" predict --force -d gl -n dae.nc -r r-train.txt -i features -o features -f r-train.txt -k 20 -s dae.recs 2>/dev/null
    t_dae=$(secs "$t0")
    # EASE and item-kNN: a grid on the validation split
    bestv() { # bestv NAME SETTINGS...: the setting with the highest validation NDCG@20
        m=$1 b="" bn=-1
        shift
        for s in "$@"; do
            # shellcheck disable=SC2086
            "$S" baseline --force $m $s --train v-train.txt -r v-train.txt -k 20 -s v.recs 2>/dev/null
            "$S" evaluate -r v.recs -t v-test.txt -k 20 --json >v.json
            nd=$(metric v.json ndcg)
            if awk -v a="$nd" -v b="$bn" 'BEGIN { exit !(a > b) }'; then b=$s bn=$nd; fi
        done
        echo "$b|$bn"
    }
    e=$(bestv ease "--lambda 20" "--lambda 50" "--lambda 100" "--lambda 200" "--lambda 500" "--lambda 1000")
    k=$(bestv itemknn "--neighbours 20 --shrink 0" "--neighbours 50 --shrink 10" "--neighbours 100 --shrink 10" \
        "--neighbours 200 --shrink 50" "--neighbours 100 --shrink 100")
    run() { # run NAME ARGS...: fit on the training part, lists for its users
        n=$1
        shift
        t0=$(date +%s.%N)
        # shellcheck disable=SC2068
        "$S" baseline --force $@ --train r-train.txt -r r-train.txt -k 20 -s $n.recs 2>/dev/null
        eval "t_$n=$(secs "$t0")"
    }
    # shellcheck disable=SC2086
    run ease ease ${e%|*}
    # shellcheck disable=SC2086
    run knn itemknn ${k%|*}
    run pop popularity
    table="| model (settings chosen on validation) | validation NDCG@20 | NDCG@20 | Recall@20 | seconds |
|---|---|---|---|---|"
    for m in dae ease knn pop; do
        "$S" evaluate -r $m.recs -t r-test.txt -k 20 --json >$m.json
        case $m in
        dae) name="Mult-DAE (sten tune: $(tr -d '\n' <tune/best.json | sed -n 's/.*"params": \({[^}]*}\).*/\1/p' | sed 's/  */ /g'), $ep epochs)"
             v=$vd; t="$t_dae (tuning $t_tune)" ;;
        ease) name="EASE (${e%|*})" v=${e#*|} t=$t_ease ;;
        knn) name="item-kNN (${k%|*})" v=${k#*|} t=$t_knn ;;
        *) name=popularity v=- t=$t_pop ;;
        esac
        table="$table
| $name | $v | $(metric $m.json ndcg) | $(metric $m.json recall) | $t |"
    done
    echo "$set"
    echo "$table"
    {
        echo
        echo "## Top-N on $set, random 80/20 per user ($(date +%Y-%m-%d))"
        echo
        echo "Command: \`sh bench/topn-small.sh\` (ratings >= 4; the 80% training part both fits the models and is"
        echo "excluded from their lists; settings chosen on a random 20% of each user's training items, the"
        echo "test part used once; seconds: fit + lists on the whole training part; \`lscpu\`:"
        echo "$(lscpu | sed -n 's/^Model name: *//p'), $(getconf _NPROCESSORS_ONLN) threads, a shared machine)."
        echo
        echo "$table"
    } >>"$RESULTS"
    cd "$ROOT"
done
