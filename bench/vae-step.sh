#!/bin/sh
# bench/vae-step.sh — the training step of Mult-VAE and Mult-DAE
# (examples/movielens/mult-vae.json, mult-dae.json: SoftMax outputs under the
# Multinomial loss, normalised inputs, the variational bottleneck) beside
# sigmoid autoencoders of the same widths (ScaledMarginalCrossEntropy, the
# fused loss) and DSSTNE's MovieLens autoencoder (128 units), at the ML-20M
# shape (bench_ae_step's synthetic data: 20,000 users of 26,744 items), one
# program alternating the configs ROUNDS times so machine noise hits all.
# Reports the median ms per step and what the softmax and variational parts
# cost over a sigmoid output of the same widths. Appends to $RESULTS.
#   THREADS=2 STEPS=20 ROUNDS=3 BATCH=256 sh bench/vae-step.sh
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
THREADS=${THREADS:-2}
STEPS=${STEPS:-20}
ROUNDS=${ROUNDS:-3}
BATCH=${BATCH:-256}
. bench/lib.sh
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
bench_build bench_ae_step
W=$ROOT/out/vae-step
mkdir -p "$W"
sae() { # sae FILE WIDTHS...: a sigmoid autoencoder with these hidden widths
    f=$1
    shift
    {
        echo '{ "Version": 0.7, "Name": "sigmoid AE", "Kind": "FeedForward", "ShuffleIndices": true,'
        echo '  "Denoising": { "p": 0.5 }, "ErrorFunction": "ScaledMarginalCrossEntropy",'
        echo '  "ScaledMarginalCrossEntropy": { "oneTarget": 1.0, "zeroTarget": 0.0, "oneScale": 1.0, "zeroScale": 1.0 },'
        echo '  "Layers": [ { "Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": true },'
        i=0
        for n in "$@"; do
            echo "    { \"Name\": \"H$i\", \"Kind\": \"Hidden\", \"N\": $n, \"Activation\": \"Sigmoid\" },"
            i=$((i + 1))
        done
        echo '    { "Name": "Output", "Kind": "Output", "N": "auto", "DataSet": "gl_output", "Activation": "Sigmoid", "Sparse": true } ],'
        echo '  "Training": { "Optimizer": "Adam", "Alpha": 0.001 } }'
    } >"$f"
}
sae "$W/sae-600-200-600.json" 600 200 600
sae "$W/sae-200.json" 200
configs="$ROOT/examples/movielens/config.json $W/sae-600-200-600.json $ROOT/examples/movielens/mult-vae.json $W/sae-200.json $ROOT/examples/movielens/mult-dae.json"
: >"$W/steps.txt"
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
for r in $(seq "$ROUNDS"); do
    for c in $configs; do
        ms=$(./build/bench/bench_ae_step --config "$c" --batch "$BATCH" --steps "$STEPS" --threads "$THREADS" |
            sed -n 's/.*"ms_per_step": \([0-9.]*\).*/\1/p')
        echo "$(basename "$c") $ms" >>"$W/steps.txt"
        echo "round $r: $(basename "$c") $ms ms/step"
    done
done
med() { grep "^$1 " "$W/steps.txt" | awk '{ print $2 }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ae=$(med config.json)
s3=$(med sae-600-200-600.json)
vae=$(med mult-vae.json)
s1=$(med sae-200.json)
dae=$(med mult-dae.json)
table="| network (ML-20M shape, batch $BATCH) | ms per step (median of $ROUNDS) | against |
|---|---|---|
| DSSTNE autoencoder (config.json: 128 Sigmoid, SMCE) | $ae | |
| sigmoid autoencoder 600-200-600 (SMCE, fused loss) | $s3 | |
| Mult-VAE (mult-vae.json: 600 Tanh, 400 heads, Variational 200, 600 Tanh, SoftMax + Multinomial) | $vae | $(awk -v a="$vae" -v b="$s3" 'BEGIN { printf "%.2fx the sigmoid AE of its widths", a / b }') |
| sigmoid autoencoder 200 (SMCE, fused loss) | $s1 | |
| Mult-DAE (mult-dae.json: 200 Tanh, SoftMax + Multinomial) | $dae | $(awk -v a="$dae" -v b="$s1" 'BEGIN { printf "%.2fx the sigmoid AE of its width", a / b }') |"
echo "$table"
{
    echo
    echo "## Mult-VAE / Mult-DAE training step at the ML-20M shape ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`THREADS=$THREADS STEPS=$STEPS ROUNDS=$ROUNDS BATCH=$BATCH sh bench/vae-step.sh\` (bench_ae_step --config: synthetic"
    echo "20,000 users x 26,744 items; OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=$THREADS; the configs alternate each round;"
    echo "\`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'))."
    echo
    echo "$table"
} >>"$RESULTS"
