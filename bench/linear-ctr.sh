#!/bin/sh
# bench/linear-ctr.sh — sten's Linear Learner on sparse click data beside scikit-learn's
# SGDClassifier (log loss, the same epochs) and LogisticRegression (lbfgs, C=1), on the
# same libsvm files, the same threads, pinned to the same cores:
#  1. quality on real rows: the Criteo Kaggle and Avazu samples in ../shared/data
#     (train / dev / test; Criteo through `sten convert --format criteo --to libsvm`,
#     Avazu's columns hashed one hot by this script); sten selects among its
#     num_models settings on dev, as SageMaker does; test AUC and log loss of each side,
#     computed by the same scikit-learn functions (bench/linear_peer.py);
#  2. speed at scale: ROWS synthetic Criteo-shaped rows (`sten synth --preset criteo`,
#     a planted click model), 80/10/10, hashed into BUCKETS rows per field, EPOCHS epochs
#     (sten keeps each model's best epoch on the validation 10% and picks among them);
#     fit-only seconds (sten's {"fit_seconds"} line; scikit-learn's fit() alone, the
#     file read not counted on either side), sten with 1 model (the like of one
#     SGDClassifier) and with 8 (SageMaker's way: 8 settings in the same pass).
# scikit-learn comes from PyPI into build/bench-sklearn (made on demand). Appends to $RESULTS.
#   THREADS=2 ROWS=2000000 BUCKETS=100000 EPOCHS=3 sh bench/linear-ctr.sh
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
THREADS=${THREADS:-2}
ROWS=${ROWS:-2000000}
BUCKETS=${BUCKETS:-100000}
EPOCHS=${EPOCHS:-3}
DATA=${DATA:-$ROOT/../shared/data}
. bench/lib.sh
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
bench_build sten
bench_threads "$THREADS"
V=$ROOT/build/bench-sklearn
if ! "$V/bin/python" -c "import sklearn" 2>/dev/null; then
    echo "installing the peer: scikit-learn from PyPI into $V"
    python3 -m venv "$V" && "$V/bin/pip" install -q scikit-learn numpy
fi
PEER="$V/bin/python $ROOT/bench/linear_peer.py"
W=$ROOT/out/linear-ctr
mkdir -p "$W"
cp build/sten "$W/sten"
S=$W/sten
cd "$W"
: >table
pin() { taskset -c "$cores" "$@"; }
field() { sed -n "s/.*\"$1\": \\([0-9.e-]*\\).*/\\1/p"; }

# sten's Linear Learner on TRAIN (VALID or "-"), scored on TEST: "fit_s auc logloss peak_rss_mb";
# EXTRA: more train options (--stream-rows N)
sten_ll() { # name hp.json train valid test dim
    v=""
    [ "$4" = - ] || v="--validation $4"
    rm -f "$1.out" "$1.jsonl"
    # shellcheck disable=SC2086
    pin /usr/bin/time -f "%M" -o "$1.rss" "$S" train --algorithm linear-learner --hyperparameters "$2" --train "$3" $v \
        --index-base 0 ${EXTRA:-} --model-dir "m-$1" --threads "$THREADS" --force >"$1.out" 2>"$1.err" ||
        { cat "$1.err" >&2; return 1; }
    pin "$S" predict -n "m-$1/model.nc" --data "$5" --index-base 0 --format jsonl -s "$1.jsonl" \
        --threads "$THREADS" --force 2>"$1.perr" || { cat "$1.perr" >&2; return 1; }
    sed 's/{"score": \([0-9.e-]*\).*/\1/' "$1.jsonl" >"$1.scores"
    q=$($PEER "$3" "$5" "$6" 1 --sten "$1.scores")
    echo "$(field fit_seconds <"$1.out") $(echo "$q" | field auc) $(echo "$q" | field logloss) $(($(tail -n 1 "$1.rss") / 1024))"
}

# 1. real rows
for s in train dev test; do
    "$S" convert --force "$DATA/criteo/kaggle_first8000_split/$s.txt" -o "criteo-$s.svm" --format criteo \
        --hash-buckets 10007 --to libsvm >criteo.dim 2>/dev/null
done
"$V/bin/python" - "$DATA/avazu/sample9000_split" <<'PY'
import sys, zlib
d = sys.argv[1]
header = open(f"{d}/train.csv").readline().rstrip("\n").split(",")
for s in ("train", "dev", "test"):
    with open(f"{d}/{s}.csv") as f, open(f"avazu-{s}.svm", "w") as out:
        for line in f:
            v = line.rstrip("\n").split(",")
            if v[0] == "id":
                continue
            row = dict(zip(header, v))
            row["hour"] = row["hour"][-2:]  # hour of day (YYMMDDHH)
            feats = sorted({zlib.crc32(f"{k}={row[k]}".encode()) % (1 << 18) for k in header if k not in ("id", "click")})
            out.write(row["click"] + "".join(f" {j}:1" for j in feats) + "\n")
PY
echo $((1 << 18)) >avazu.dim
sed -i 's/feature_dim //' criteo.dim
for ds in criteo avazu; do
    dim=$(cat "$ds.dim")
    printf '{"feature_dim": "%s", "predictor_type": "binary_classifier", "binary_classifier_model_selection_criteria": "loss_function"}' \
        "$dim" >"$ds.json"
    set -- $(sten_ll "$ds" "$ds.json" "$ds-train.svm" "$ds-dev.svm" "$ds-test.svm" "$dim")
    rows=$(wc -l <"$ds-train.svm")
    echo "| $ds sample ($rows training rows, $dim features) | sten Linear Learner, 8 models, best on dev | $2 | $3 | $1 | |" >>table
    pin $PEER "$ds-train.svm" "$ds-test.svm" "$dim" 15 | while read -r line; do
        echo "| $ds sample | $(echo "$line" | sed -n 's/.*"impl": "\([^"]*\)".*/\1/p') (train only) | $(echo "$line" | field auc) | $(echo "$line" | field logloss) | $(echo "$line" | field fit_s) | |" >>table
    done
done

# 2. speed at scale
"$S" synth --force --preset criteo --rows "$ROWS" --scale 0.01 --seed 11 -o all.tsv 2>synth.err
ceiling=$(grep -o "AUC [0-9.]*" synth.err | head -n 1)
test_rows=$((ROWS / 10))
head -n $((ROWS - 2 * test_rows)) all.tsv >tr.tsv
tail -n $((2 * test_rows)) all.tsv | head -n "$test_rows" >va.tsv
tail -n "$test_rows" all.tsv >te.tsv
"$S" convert --force tr.tsv -o tr.svm --format criteo --hash-buckets "$BUCKETS" --to libsvm >big.dim 2>/dev/null
for s in va te; do
    "$S" convert --force $s.tsv -o $s.svm --format criteo --hash-buckets "$BUCKETS" --to libsvm >/dev/null 2>&1
done
rm -f all.tsv tr.tsv va.tsv te.tsv
dim=$(sed 's/feature_dim //' big.dim)
for models in 1 8; do
    printf '{"feature_dim": "%s", "predictor_type": "binary_classifier", "epochs": "%s", "num_models": "%s", "binary_classifier_model_selection_criteria": "loss_function"}' \
        "$dim" "$EPOCHS" "$models" >"big$models.json"
    set -- $(sten_ll "big$models" "big$models.json" tr.svm va.svm te.svm "$dim")
    echo "| synthetic ($((ROWS - 2 * test_rows)) rows, $dim features) | sten Linear Learner, $models model(s), $EPOCHS epochs, best epoch on a validation 10% | $2 | $3 | $1 | $4 |" >>table
    echo "sten$models $1" >>fits
done
# the same, the files read 100000 rows at a time (data larger than memory): time includes the reading
set -- $(EXTRA="--stream-rows 100000" sten_ll "stream1" big1.json tr.svm va.svm te.svm "$dim")
echo "| synthetic | sten Linear Learner, 1 model, streamed 100000 rows at a time (seconds include reading the files, every pass) | $2 | $3 | $1 | $4 |" >>table
pin $PEER tr.svm te.svm "$dim" "$EPOCHS" | while read -r line; do
    name=$(echo "$line" | sed -n 's/.*"impl": "\([^"]*\)".*/\1/p')
    echo "| synthetic | $name | $(echo "$line" | field auc) | $(echo "$line" | field logloss) | $(echo "$line" | field fit_s) | $(echo "$line" | field peak_rss_mb) |" >>table
    echo "$name" | grep -q SGD && echo "sgd $(echo "$line" | field fit_s)" >>fits
    echo "$name" | grep -q lbfgs && echo "lbfgs $(echo "$line" | field fit_s)" >>fits
done
ratios=$(awk '{ t[$1] = $2 } END {
    printf "fit time, sten 1 model / SGDClassifier: %.2f; sten 8 models / SGDClassifier: %.2f; sten 1 model / LogisticRegression: %.2f",
        t["sten1"] / t["sgd"], t["sten8"] / t["sgd"], t["sten1"] / t["lbfgs"] }' fits)
rm -f fits
head="| data | side | test AUC | test log loss | fit-only seconds | peak RSS MB (synthetic) |
|---|---|---|---|---|---|"
echo "$head"
cat table
echo "$ratios"
{
    echo
    echo "## Linear Learner on sparse click data beside scikit-learn ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`THREADS=$THREADS ROWS=$ROWS BUCKETS=$BUCKETS EPOCHS=$EPOCHS sh bench/linear-ctr.sh\` (scikit-learn"
    echo "$("$V/bin/python" -c 'import sklearn; print(sklearn.__version__)'); \`lscpu\`: $model; OMP/OPENBLAS/MKL_NUM_THREADS=$THREADS,"
    echo "sten --threads $THREADS, all pinned to cores $cores). Real rows: the Criteo Kaggle sample (hashed 10007 per field)"
    echo "and the Avazu sample (hashed one hot, 2^18); synthetic: \`sten synth --preset criteo --scale 0.01\` (the planted"
    echo "model's own $ceiling), hashed $BUCKETS per field. AUC and log loss of both sides by scikit-learn's functions."
    echo
    echo "$head"
    cat table
    echo
    echo "$ratios."
} >>"$RESULTS"
