#!/bin/sh
# run.sh — DLRM on Criteo-format click logs, end to end with sten:
#   TSV -> train/test rows -> NetCDF (hashed categorical values) -> train the
#   Kaggle DLRM (dlrm.json) with test AUC / log loss each epoch -> scores of
#   the test rows -> their AUC and log loss by `sten evaluate --scores`.
# Usage: examples/criteo/run.sh [CRITEO.tsv] [WORKDIR] [STEN]
# Without a file it makes one: `sten synth --preset criteo` (planted model,
# its AUC printed as the ceiling). Downloads nothing; Criteo's Kaggle data
# (train.txt) can be pointed at as it is.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TSV=${1:-}
[ -z "$TSV" ] || TSV=$(realpath "$TSV") # before the cd below
W=${2:-criteo-out}
STEN=${3:-$HERE/../../build/sten}
EPOCHS=${EPOCHS:-1}
BUCKETS=${BUCKETS:-100000}
mkdir -p "$W"
cd "$W"
if [ -z "$TSV" ]; then
    "$STEN" synth --force --preset criteo --rows "${ROWS:-60000}" --scale 0.01 --seed 1 -o synth.tsv
    TSV=synth.tsv
fi
# 1. the last sixth of the rows for testing (Criteo's rows are in time order)
n=$(wc -l <"$TSV")
head -n $((n - n / 6)) "$TSV" >train.tsv
tail -n $((n / 6)) "$TSV" >test.tsv
# 2. NetCDF datasets dense, C1..C26, label; hashing gives both files the same indices
"$STEN" convert --force train.tsv -o train.nc --format criteo --hash-buckets "$BUCKETS"
"$STEN" convert --force test.tsv -o test.nc --format criteo --hash-buckets "$BUCKETS"
# 3. train, with the test metrics after every epoch
"$STEN" train -c "$HERE/dlrm.json" -i train.nc -o train.nc -n dlrm.nc -e "$EPOCHS" -b 128 \
    --test test.nc --force
# 4. one click probability per test row, in order
"$STEN" predict --force -n dlrm.nc -i test.nc --format scores -s scores.txt
# 5. the same metrics from the scores file and the test labels
cut -f 1 test.tsv | paste -d , scores.txt - >scored.csv
"$STEN" evaluate --scores scored.csv
