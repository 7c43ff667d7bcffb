#!/bin/sh
# bench/mpi-scaling.sh — data-parallel training over MPI (docs/scale-out.md):
# 1 process x 1 thread against `mpirun -np 2` x 1 thread each, in one run,
# alternating, on the ML-20M-shaped autoencoder (26,744 items; USERS users of
# synthetic ML-20M-like data, the catalogue width is what sets a step's
# cost); then the quality check: the example's autoencoder (denoising,
# sparseness penalty, shuffling) on MovieLens-1M (../shared/data/ml-1m, or
# synthetic ML-1M when absent) trained by 1 process and by 2 ranks, Recall@20
# and NDCG@20 of each on the same held-out 20%. Appends to $RESULTS
# (bench/RESULTS.md). Needs a build with MPI (built here in build-mpi/).
#   sh bench/mpi-scaling.sh
#   USERS=20000 EPOCHS=2 ROUNDS=3 QUALITY_EPOCHS=20 RESULTS=/dev/null sh bench/mpi-scaling.sh
set -eu
cd "$(dirname "$0")/.."
USERS=${USERS:-20000}
EPOCHS=${EPOCHS:-2}
ROUNDS=${ROUNDS:-3}
BATCH=${BATCH:-256}
QUALITY_EPOCHS=${QUALITY_EPOCHS:-20}
. bench/lib.sh
bench_mpi sten

W=$(pwd)/out/mpi-scaling
mkdir -p "$W"
cd "$W"
# ---- speed: ML-20M's catalogue, USERS users with ML-20M's activity
inter=$((20000263 * USERS / 138493))
"$STEN" synth --force --users "$USERS" --items 26744 --interactions "$inter" --seed 11 --format dsstne \
    -o s20.txt 2>/dev/null
"$STEN" generate-netcdf --force -d gl_input -i s20.txt -o s20_in.nc -f s20_features -s s20_samples -c 2>/dev/null
"$STEN" generate-netcdf --force -d gl_output -i s20.txt -o s20_out.nc -f s20_features -s s20_samples 2>/dev/null
cfg=../../examples/movielens/config.json
rate() { sed -n "s/.*epoch $EPOCHS: .*, \([0-9]*\) examples\/s.*/\1/p" "$1" | tail -n 1; }
one="" two="" ar="" mod="" r=0
while [ "$r" -lt "$ROUNDS" ]; do
    taskset -c 0 "$STEN" train -c "$cfg" -i s20_in.nc -o s20_out.nc -n one.nc -b "$BATCH" -e "$EPOCHS" -t 1 \
        --force 2>one.err
    $MPIRUN -np 2 "$STEN" train -c "$cfg" -i s20_in.nc -o s20_out.nc -n two.nc -b "$BATCH" -e "$EPOCHS" -t 1 \
        --force --parallel data 2>two.err
    STEN_MPI_SHARED=0 $MPIRUN -x STEN_MPI_SHARED -np 2 "$STEN" train -c "$cfg" -i s20_in.nc -o s20_out.nc \
        -n two_ar.nc -b "$BATCH" -e "$EPOCHS" -t 1 --force --parallel data 2>two_ar.err
    $MPIRUN -np 2 "$STEN" train -c "$cfg" -i s20_in.nc -o s20_out.nc -n mod.nc -b "$BATCH" -e "$EPOCHS" -t 1 \
        --force --parallel model 2>mod.err
    a=$(rate one.err) b=$(rate two.err) d=$(rate two_ar.err) c=$(rate mod.err)
    echo "round $((r + 1)): 1 process $a examples/s, 2 ranks data parallel $b (through MPI_Allreduce $d)," \
        "2 ranks model parallel $c"
    one="$one $a" two="$two $b" ar="$ar $d" mod="$mod $c"
    r=$((r + 1))
done
m1=$(bench_median $one) m2=$(bench_median $two) m4=$(bench_median $ar) m3=$(bench_median $mod)
ratio=$(awk -v a="$m1" -v b="$m2" 'BEGIN { printf "%.2f", b / a }')
ratio_m=$(awk -v a="$m1" -v b="$m3" 'BEGIN { printf "%.2f", b / a }')
ratio_a=$(awk -v a="$m1" -v b="$m4" 'BEGIN { printf "%.2f", b / a }')
echo "speed: median 1 process $m1, 2 ranks data parallel $m2 (${ratio}x; through MPI_Allreduce $m4, ${ratio_a}x)," \
    "model parallel $m3 (${ratio_m}x) examples/s"

# ---- quality: the same model by 1 process and by 2 ranks
ml1m=../../../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz
if [ -f "$ml1m" ]; then
    data="MovieLens-1M"
    "$STEN" split --force "$ml1m" --protocol random --fraction 0.2 --seed 7 --format delimited --delimiter : \
        --columns user,-,item,-,rating -o q 2>/dev/null
else
    data="synthetic ML-1M"
    "$STEN" synth --force --preset ml-1m --seed 7 -o q.csv 2>/dev/null
    "$STEN" split --force q.csv --protocol random --fraction 0.2 --seed 7 -o q 2>/dev/null
fi
"$STEN" generate-netcdf --force -d gl_input -i q-train.txt -o q_in.nc -f q_features -s q_samples -c 2>/dev/null
"$STEN" generate-netcdf --force -d gl_output -i q-train.txt -o q_out.nc -f q_features -s q_samples 2>/dev/null
quality() { # quality NAME: train (already done) -> predict -> Recall@20 NDCG@20
    "$STEN" predict --force -d gl -n "$1.nc" -r q-train.txt -i q_features -o q_features --exclude-seen -k 20 \
        -s "$1.recs" 2>/dev/null
    "$STEN" evaluate -r "$1.recs" -t q-test.txt -k 20 --features q_features --json |
        python3 -c 'import json,sys; m=json.load(sys.stdin)["at"][0]; print("%.4f %.4f" % (m["recall"], m["ndcg"]))'
}
"$STEN" train -c "$cfg" -i q_in.nc -o q_out.nc -n q1.nc -b 128 -e "$QUALITY_EPOCHS" -t 1 --force 2>/dev/null
$MPIRUN -np 2 "$STEN" train -c "$cfg" -i q_in.nc -o q_out.nc -n q2.nc -b 128 -e "$QUALITY_EPOCHS" -t 1 \
    --force --parallel data 2>/dev/null
$MPIRUN -np 2 "$STEN" train -c "$cfg" -i q_in.nc -o q_out.nc -n q3.nc -b 128 -e "$QUALITY_EPOCHS" -t 1 \
    --force --parallel model 2>/dev/null
q1=$(quality q1) q2=$(quality q2) q3=$(quality q3)
echo "quality ($data, $QUALITY_EPOCHS epochs): Recall@20 NDCG@20: 1 process $q1, 2 ranks data $q2, model $q3"

cd ../..
{
    echo
    echo "## MPI: 2 ranks x 1 thread (data and model parallel) vs 1 process x 1 thread ($(date -u +%Y-%m-%d))"
    echo
    echo "\`USERS=$USERS EPOCHS=$EPOCHS ROUNDS=$ROUNDS BATCH=$BATCH QUALITY_EPOCHS=$QUALITY_EPOCHS sh bench/mpi-scaling.sh\`"
    echo "on $model ($cores cores), $(mpirun --version | head -n 1), OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1."
    echo
    echo "| | 1 process | 2 ranks, data parallel (shared memory) | 2 ranks, data parallel through MPI_Allreduce (STEN_MPI_SHARED=0) | 2 ranks, model parallel |"
    echo "|---|---|---|---|---|"
    echo "| AE training, ML-20M catalogue (26,744 items, $USERS users), batch $BATCH, epoch $EPOCHS examples/s (median of $ROUNDS; rounds:$one /$two /$ar /$mod) | $m1 | $m2 (${ratio}x) | $m4 (${ratio_a}x) | $m3 (${ratio_m}x) |"
    echo "| Recall@20 / NDCG@20, $data, example config, $QUALITY_EPOCHS epochs, batch 128 | $(echo "$q1" | tr ' ' '/') | $(echo "$q2" | tr ' ' '/') | - | $(echo "$q3" | tr ' ' '/') |"
} >>"$RESULTS"
echo "appended to $RESULTS"
