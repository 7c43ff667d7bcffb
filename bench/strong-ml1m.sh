#!/bin/sh
# bench/strong-ml1m.sh — the Liang et al. (2018) strong-generalization
# protocol on MovieLens-1M (../shared/data/ml-1m, ratings > 3.5 positive,
# users with >= 5 items, 600 validation + 600 test users held out, 80/20
# fold-in): the engine's models (the DSSTNE sigmoid autoencoder, Mult-DAE,
# Mult-VAE; the latter two stopped on the validation users' NDCG@100) against
# EASE and popularity. Recall@20, Recall@50 (hits / min(k, held out), as
# Liang et al.) and NDCG@100 over the test users. Appends the table to
# bench/RESULTS.md.
#   sh bench/strong-ml1m.sh [RATINGS] [WORKDIR]
#   DAE=FILE VAE=FILE       other configs for the two rows (e.g. sten tune's best-config.json)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
R=${1:-$ROOT/../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz}
W=${2:-$ROOT/out/strong-ml1m}
DAE=${DAE:-$ROOT/examples/movielens/mult-dae.json}
VAE=${VAE:-$ROOT/examples/movielens/mult-vae.json}
. bench/lib.sh
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
bench_build sten
S=$ROOT/build/sten
mkdir -p "$W"
cd "$W"
bench_strong_split "$S" "$R"
"$S" generate-netcdf --force -d gl_input -i st-valid-foldin.txt -o vin.nc -f features -s vsamples
"$S" generate-netcdf --force -d gl_output -i st-valid-holdout.txt -o vout.nc -f features -s vsamples
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(date +%s.%N)
"$S" train -c "$ROOT/examples/movielens/config.json" -i gl_input.nc -o gl_output.nc -n ae.nc --force 2>/dev/null
t_ae=$(secs "$t0")
for m in dae vae; do
    cfg=$DAE
    [ $m = vae ] && cfg=$VAE
    t0=$(date +%s.%N)
    "$S" train -c "$cfg" -i gl_input.nc -o gl_output.nc -n $m.nc --force --validate vin.nc --validate vout.nc \
        --select ndcg@100 --keep-best 2>$m.log
    eval "t_$m=$(secs "$t0")"
    eval "e_$m=$(sed -n 's/.*kept the weights of epoch \([0-9]*\),.*/\1/p' $m.log)"
done
for m in ae dae vae; do
    "$S" predict --force -d gl -n $m.nc -r st-test-foldin.txt -i features -o features -f st-test-foldin.txt -k 100 -s $m.recs
done
t0=$(date +%s.%N)
"$S" baseline --force ease --train st-train.txt -r st-test-foldin.txt -k 100 -s ease.recs --lambda 500
t_ease=$(secs "$t0")
"$S" baseline --force popularity --train st-train.txt -r st-test-foldin.txt -k 100 -s pop.recs
table="| model | Recall@20 | Recall@50 | NDCG@100 | fit seconds |
|---|---|---|---|---|"
for m in vae dae ae ease pop; do
    "$S" evaluate -r $m.recs -t st-test-holdout.txt -k 20,50,100 --features features --json >$m.json
    r20=$(sed -n 's/.*"k": 20, [^}]*"recall_trunc": \([0-9.]*\).*/\1/p' $m.json)
    r50=$(sed -n 's/.*"k": 50, [^}]*"recall_trunc": \([0-9.]*\).*/\1/p' $m.json)
    n100=$(sed -n 's/.*"k": 100, [^}]*"ndcg": \([0-9.]*\).*/\1/p' $m.json)
    case $m in
    ae) name="DSSTNE autoencoder (examples/movielens/config.json, Sigmoid, SMCE, 40 epochs)" secs=$t_ae ;;
    dae) name="Mult-DAE ($(basename "$DAE"), best epoch $e_dae on validation NDCG@100)" secs=$t_dae ;;
    vae) name="Mult-VAE ($(basename "$VAE"), best epoch $e_vae on validation NDCG@100)" secs=$t_vae ;;
    ease) name="EASE (lambda 500)" secs=$t_ease ;;
    *) name=popularity secs=- ;;
    esac
    table="$table
| $name | $r20 | $r50 | $n100 | $secs |"
done
echo "$table"
{
    echo
    echo "## Strong generalization on MovieLens-1M ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`sh bench/strong-ml1m.sh\` (ratings $(basename "$R"); 600 validation and 600 test"
    echo "users held out, seed 98765; metrics over the test users' 20% held-out positives, fold-in items"
    echo "excluded from the lists; Recall@k = hits / min(k, held out) as Liang et al.; Mult-DAE/VAE"
    echo "trained with \`--validate\` on the validation users and \`--select ndcg@100 --keep-best\`;"
    echo "fit seconds include their per-epoch validation ranking; \`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'), $(getconf _NPROCESSORS_ONLN) threads)."
    echo
    echo "$table"
} >>"$RESULTS"
