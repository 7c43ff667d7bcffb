#!/bin/sh
# golden.sh — fixed-seed outputs of the main workflows, for refactors that
# must not change a bit: the MovieLens autoencoder (SGD and Adam, fp32 and,
# where the CPU has it, bf16; model file, recommendations, metrics) and the
# Factorization Machines front door (model, test metrics, scores). Writes
# text forms (ncdump -p 9,17 for models) into DIR; compare two DIRs with diff -r.
#   sh scripts/golden.sh DIR [STEN]       (STEN default: build/sten)
# Results depend on the CPU's kernels and the thread count (pinned to 2 here).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$(realpath -m "$1")
STEN=$(realpath "${2:-build/sten}")
mkdir -p "$OUT"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
T="--threads 2"
"$STEN" synth --preset small --seed 11 -o r.csv 2>/dev/null
"$STEN" split r.csv --protocol random --fraction 0.2 --seed 3 -o s 2>/dev/null
"$STEN" generate-netcdf -d gl_input -i s-train.txt -o in.nc -f feat -s samp -c 2>/dev/null
"$STEN" generate-netcdf -d gl_output -i s-train.txt -o out.nc -f feat -s samp 2>/dev/null
sed 's/"Epochs" : 40/"Epochs" : 3/' "$ROOT/examples/movielens/config.json" >adam.json
sed -e 's/"Adam"/"SGD"/' -e 's/"Alpha" : 0.003/"Alpha" : 0.05/' adam.json >sgd.json
# a model as text, in an order that does not depend on the order the file
# defines its attributes and variables in: header lines sorted, then the data
# lines tagged with their variable and sorted by it (stable: values keep
# their order)
dump() {
    ncdump -p 9,17 "$1" | sed 1d >dump.txt
    awk '/^data:/ { exit } { print "H " $0 }' dump.txt | LC_ALL=C sort >"$OUT/$2"
    awk '/^data:/ { d = 1; next } !d || /^}/ { next } /^ [^ ].* = / { v = $1 }
         $0 != "" { print "D " v " " $0 }' dump.txt | LC_ALL=C sort -s -k2,2 >>"$OUT/$2"
}
for cfg in adam sgd; do
    for prec in fp32 bf16; do
        if [ $prec = bf16 ] && ! "$STEN" info 2>&1 | grep -q "^bf16 *yes"; then continue; fi
        "$STEN" train -c $cfg.json -i in.nc -o out.nc -n m.nc --force $T --precision $prec \
            --metrics m.jsonl >/dev/null 2>&1
        dump m.nc "$cfg-$prec-model.cdl"
        sed 's/"seconds": [0-9.e+-]*/"seconds": X/; s/"examples_per_s": [0-9.e+-]*/"examples_per_s": X/' \
            m.jsonl >"$OUT/$cfg-$prec-metrics.jsonl"
        "$STEN" predict -d gl -n m.nc -r s-train.txt -i feat -o feat --exclude-seen -k 20 $T \
            --precision $prec -s "$OUT/$cfg-$prec.recs" >/dev/null 2>&1
        "$STEN" evaluate -r "$OUT/$cfg-$prec.recs" -t s-test.txt -k 20 --features feat --json \
            >"$OUT/$cfg-$prec-eval.json" 2>/dev/null
    done
done
# resume: 2 epochs, then one more from the checkpoint = 3 in one go
"$STEN" train -c adam.json -i in.nc -o out.nc -n m1.nc --force $T -e 2 >/dev/null 2>&1
"$STEN" train -c adam.json -i in.nc -o out.nc -n m2.nc --resume m1.nc --force $T -e 3 >/dev/null 2>&1
dump m2.nc adam-resumed-model.cdl
"$STEN" predict -d gl -n m2.nc -r s-train.txt -i feat -o feat -k 10 $T --layer Hidden -s "$OUT/hidden.txt" >/dev/null 2>&1
# Factorization Machines, SageMaker front door
awk -F, 'NR > 1 { printf "%d %d:1 %d:1\n", ($3 >= 4), $1 - 1, 2000 + $2 - 1 }' r.csv >fm.all
awk "NR % 5 != 0" fm.all >fm.train; awk "NR % 5 == 0" fm.all >fm.test
printf '{"feature_dim": "3000", "num_factors": "8", "predictor_type": "binary_classifier", "epochs": "3", "mini_batch_size": "500", "factors_lr": "0.001", "linear_lr": "0.005"}' >hp.json
"$STEN" train --algorithm factorization-machines --hyperparameters hp.json --train fm.train \
    --test fm.test --model-dir fmdir --index-base 0 $T >"$OUT/fm-metrics.txt" 2>/dev/null
dump fmdir/model.nc fm-model.cdl
"$STEN" predict -d fm -n fmdir/model.nc --libsvm fm.test --index-base 0 $T -s "$OUT/fm.scores" >/dev/null 2>&1
printf '{"feature_dim": "3000", "num_factors": "4", "predictor_type": "regressor", "epochs": "2", "mini_batch_size": "200", "clip_gradient": "0.5", "bias_wd": "0.01"}' >hpr.json
"$STEN" train --algorithm factorization-machines --hyperparameters hpr.json --train fm.train \
    --test fm.test --model-dir fmr --index-base 0 $T >"$OUT/fmr-metrics.txt" 2>/dev/null
dump fmr/model.nc fmr-model.cdl
ls "$OUT" | wc -l
